"""A misbehaving object store: an HTTP proxy in front of the S3 server that fails on demand.

It passes every request through to the real store (moto's server), streaming request bodies
as they arrive, so a client killed mid-upload leaves the store a truncated PUT, as a real
network would. On demand it answers ``503 SlowDown`` to every n-th request, delays each
request, slows uploads, or goes down (listener and open connections closed) and comes back
on the same port, as a store restarting does.

The proxy runs in a process of its own (``python -m tests.jobs.proxy``): rasterio holds the GIL
while GDAL opens a file, so a proxy thread in the process that reads through it would deadlock.
:class:`StoreProxy` starts it, kills it (``down``: the port closed, connections cut) and reads
the log it writes, one line per event.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import socket
import socketserver
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, settings: argparse.Namespace) -> None:
        super().__init__(("127.0.0.1", settings.port), _Handler)
        self.settings = settings
        self.requests = 0
        self._lock = threading.Lock()

    def counted(self) -> int:
        with self._lock:
            self.requests += 1
            return self.requests

    def note(self, line: str) -> None:
        with self._lock, open(self.settings.log, "a") as f:
            f.write(line + "\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def relay(self) -> None:
        proxy = self.server.settings
        n = self.server.counted()
        time.sleep(proxy.delay)
        length = int(self.headers.get("Content-Length") or 0)
        if proxy.fail_every and n % proxy.fail_every == 0:
            self.rfile.read(length)
            self.server.note(f"503 {self.path}")
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOW_DOWN)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(SLOW_DOWN)
            return
        upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for key, value in self.headers.items():
            if key.lower() not in HOP:
                upstream.putheader(key, value)
        upstream.endheaders()
        self.stream_body(upstream, length)
        resp = upstream.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in HOP and (key.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(key, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()
        if self.command == "PUT":
            self.server.note(f"done {self.path}")

    def stream_body(self, upstream: http.client.HTTPConnection, length: int) -> None:
        """Pass the request body on as it arrives (slowly for a PUT when ``put_rate`` is set)."""
        proxy = self.server.settings
        if self.command == "PUT":
            self.server.note(f"start {self.path}")
        slow = self.command == "PUT" and proxy.put_rate > 0
        step = 1024 if slow else 16384
        while length > 0:
            piece = self.rfile.read(min(step, length))
            if not piece:  # the client is gone: the store gets a truncated upload
                upstream.close()
                raise ConnectionAbortedError(self.path)
            if slow:
                time.sleep(len(piece) / proxy.put_rate)
            upstream.send(piece)
            length -= len(piece)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = relay


class StoreProxy:
    """The proxy on ``127.0.0.1:port`` in front of the S3 server at ``upstream`` (host:port)."""

    def __init__(self, upstream: str, port: int, log: Path) -> None:
        self.upstream, self.port, self.log_path = upstream, port, log
        self.fail_every = 0
        """Answer 503 SlowDown to every n-th request (0: never)."""
        self.delay = 0.0
        """Seconds each request waits before it is served."""
        self.put_rate = 0.0
        """Bytes per second of upload bodies (0: as fast as they come)."""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> list[str]:
        """``503 /bucket/key``, ``start /bucket/key`` and ``done /bucket/key`` (PUTs), in order."""
        return self.log_path.read_text().splitlines() if self.log_path.exists() else []

    @property
    def failed(self) -> int:
        """Requests answered 503."""
        return sum(line.startswith("503 ") for line in self.log)

    def up(self) -> None:
        """Start the proxy with the current settings; returns once it listens."""
        args = ["--upstream", self.upstream, "--port", str(self.port), "--log", str(self.log_path)]
        args += [
            "--fail-every",
            str(self.fail_every),
            "--delay",
            str(self.delay),
            "--put-rate",
            str(self.put_rate),
        ]
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.jobs.proxy", *args], cwd=ROOT)
        t0 = time.monotonic()
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            assert self._proc.poll() is None and time.monotonic() - t0 < 20, "the store proxy did not start"
            time.sleep(0.05)

    def down(self) -> None:
        """Kill the proxy: the port closes and every open connection is cut, as a store that restarts."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--put-rate", type=float, default=0.0)
    _Server(parser.parse_args()).serve_forever()


if __name__ == "__main__":
    main()
