"""A staged streaming pipeline: read → infer → write, each stage on its own threads.

A fast model idles unless reading, decoding and writing keep pace with it, so the three
stages overlap instead of taking turns::

    readers (N threads)        infer (calling thread)        writer (1 thread)
    read + decode + normalise ─▶ batch → ONNX Runtime ─▶ assemble, encode, overviews
           bounded: depth chunks           bounded: depth chunks

GDAL (decoding, compression) and ONNX Runtime release the GIL, so threads are enough.
Reads are submitted at most ``depth`` chunks ahead and the writer's queue holds at most
``depth`` chunks, so memory is bounded by ``2 × depth + 2`` chunks whatever the raster
size. Inference runs in the calling thread: a ``progress`` callback (and Ctrl-C) act
there, exactly as in a serial loop.

Failure anywhere stops everything: the first error of any stage is raised in the calling
thread once every thread has ended (none is left hanging), and the caller's ``with``
block (:func:`costa.io.writer.write_cog`) then removes its partial output. Chunk cores
partition the raster and each is written once, so the output equals the serial path's
pixels whatever the order in which stages finish.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["DEPTH", "READERS", "stream"]

READERS = 2
"""Reader threads: decoding deflate or JPEG 2000 is the costliest I/O step."""
DEPTH = 2
"""Chunks allowed to wait between two stages."""

In = TypeVar("In")
Data = TypeVar("Data")
Out = TypeVar("Out")
_DONE = object()
_POLL_S = 0.05


class _Writer(Generic[Out]):
    """One thread draining a bounded queue into ``write``; remembers its first error."""

    def __init__(self, write: Callable[[Out], None], depth: int) -> None:
        self._write = write
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="costa-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as e:  # handed to the calling thread
                self.error = e
                return

    def put(self, item: Out) -> None:
        """Queue ``item``, waiting for room; raises the writer's error if it has failed."""
        while True:
            self.check()
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def check(self) -> None:
        """Raise the writer's error, if any, in the calling thread."""
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Write everything queued, then end the thread; raises the writer's error."""
        while self._thread.is_alive():
            try:
                self._queue.put(_DONE, timeout=_POLL_S)
                break
            except queue.Full:
                continue
        self._thread.join()
        self.check()

    def abort(self) -> None:
        """End the thread without writing what is still queued."""
        self._stop.set()
        self._thread.join()


def stream(
    items: Sequence[In],
    read: Callable[[In], Data],
    infer: Callable[[In, Data], Out],
    write: Callable[[Out], None],
    *,
    readers: int = READERS,
    depth: int = DEPTH,
) -> None:
    """Run ``write(infer(item, read(item)))`` for every item, the three stages overlapping.

    ``read`` runs on ``readers`` threads, ``infer`` in the calling thread, in item order,
    ``write`` on one thread in item order. The first error raised by any stage is raised
    here once all threads have ended.

    >>> out = []
    >>> stream(range(5), lambda i: i * 10, lambda i, x: (i, x + 1), out.append)
    >>> out
    [(0, 1), (1, 11), (2, 21), (3, 31), (4, 41)]
    >>> stream([1, 0], lambda i: 1 // i, lambda i, x: x, out.append)
    Traceback (most recent call last):
    ...
    ZeroDivisionError: integer division or modulo by zero
    """
    writer: _Writer[Out] = _Writer(write, depth)
    pool = ThreadPoolExecutor(max_workers=max(1, readers), thread_name_prefix="costa-read")
    try:
        for item, data in _read_ahead(pool, items, read, depth):
            writer.check()
            writer.put(infer(item, data))
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _read_ahead(
    pool: ThreadPoolExecutor, items: Sequence[In], read: Callable[[In], Data], depth: int
) -> Iterator[tuple[In, Data]]:
    """Yield each item with its data, in order, keeping ``depth`` reads in flight."""
    ahead = max(1, depth)
    pending: list[Future[Data]] = [pool.submit(read, it) for it in items[:ahead]]
    for i, item in enumerate(items):
        data = pending.pop(0).result()
        if i + ahead < len(items):
            pending.append(pool.submit(read, items[i + ahead]))
        yield item, data
