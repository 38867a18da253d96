"""A small demo territory with its ZAN GeoPackage and report, and a real `costa serve` on it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyogrio
import pytest

from costa.demo.run import run_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`costa demo` on a 2 × 2 × 400 px territory (two communes, two vintages, report included)."""
    root = tmp_path_factory.mktemp("demo")
    s = run_demo(root, seed=0, dalles=(2, 2), dalle_px=400)
    s["root"] = root
    s["communes_gpkg"] = pyogrio.read_dataframe(root / "zan.gpkg", layer="communes", read_geometry=False)
    s["parcelles_gpkg"] = pyogrio.read_dataframe(root / "zan.gpkg", layer="parcelles", read_geometry=False)
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def server(demo: dict[str, Any]) -> Iterator[str]:
    """A real `costa serve` subprocess on the demo report, on a free localhost port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "costa", "serve", str(Path(demo["report"]).parent), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/communes", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"costa serve did not start: {proc.communicate()[1].decode()}") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
