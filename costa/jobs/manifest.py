"""The job manifest: one row per chunk, in an SQLite file next to the outputs.

SQLite gives atomic updates that survive ``kill -9`` and can be read by ``costa status``
while the job runs (WAL mode). Only the job's client process writes it; workers return
results. The job's settings are stored with it, so a rerun into the same folder with other
settings is refused instead of mixing two jobs' outputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from costa.errors import OutputError

__all__ = ["FILENAME", "Manifest", "Row", "sha256_file"]

FILENAME = "manifest.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    name TEXT PRIMARY KEY,      -- dalle or grid cell name = output file stem
    idx INTEGER NOT NULL,       -- order in the plan
    status TEXT NOT NULL,       -- pending, running, done, failed
    attempts INTEGER NOT NULL,  -- runs started, over all invocations
    run INTEGER,                -- invocation (1, 2...) that produced the output
    sha256 TEXT,                -- checksum of the output COG
    error TEXT,                 -- last error, one line (for done: why its context was incomplete)
    seconds REAL,
    worker TEXT,
    updated TEXT,
    etag TEXT                   -- ETag of the uploaded COG (outputs on object storage)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    """One chunk's state."""

    name: str
    idx: int
    status: str
    attempts: int
    run: int | None
    sha256: str | None
    error: str | None
    seconds: float | None
    worker: str | None
    updated: str | None
    etag: str | None = None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Manifest:
    """Open (or create) the manifest of the job in ``folder``."""

    def __init__(self, folder: Path, readonly: bool = False) -> None:
        self.path = folder / FILENAME
        if readonly and not self.path.is_file():
            raise OutputError(f"{folder} holds no costa job ({FILENAME} not found)")
        uri = f"file:{self.path}{'?mode=ro' if readonly else ''}"
        self.db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        if not readonly:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(chunks)")}
            if "etag" not in columns:  # a manifest written before outputs could be uploaded
                self.db.execute("ALTER TABLE chunks ADD COLUMN etag TEXT")

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meta(self, key: str) -> str | None:
        """A stored job setting."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a job setting."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def start_run(self, names: Sequence[str]) -> int:
        """Register a new invocation over ``names`` (new chunks pending); returns its number."""
        run = int(self.meta("runs") or 0) + 1
        with self._tx():
            self.db.executemany(
                "INSERT OR IGNORE INTO chunks (name, idx, status, attempts) VALUES (?, ?, 'pending', 0)",
                [(n, i) for i, n in enumerate(names)],
            )
            self.db.execute("UPDATE chunks SET status = 'pending' WHERE status = 'running'")
            self.set_meta("runs", str(run))
        return run

    def rows(self) -> list[Row]:
        """Every chunk, in plan order."""
        cur = self.db.execute(
            "SELECT name, idx, status, attempts, run, sha256, error, seconds, worker, updated, etag "
            "FROM chunks ORDER BY idx"
        )
        return [Row(*r) for r in cur.fetchall()]

    def started(self, name: str) -> int:
        """Mark a chunk running; returns its attempt number."""
        self.db.execute(
            "UPDATE chunks SET status = 'running', attempts = attempts + 1, updated = ? WHERE name = ?",
            (_now(), name),
        )
        return int(self.db.execute("SELECT attempts FROM chunks WHERE name = ?", (name,)).fetchone()[0])

    def done(
        self,
        name: str,
        *,
        run: int,
        sha256: str,
        seconds: float,
        worker: str,
        degraded: str | None = None,
        etag: str | None = None,
    ) -> None:
        """Record a chunk whose output is written and checksummed (and uploaded: its ``etag``).

        ``degraded`` says why its context was incomplete (a neighbour unreadable); such a
        chunk is recomputed by the next run.
        """
        self.db.execute(
            "UPDATE chunks SET status = 'done', run = ?, sha256 = ?, error = ?, seconds = ?, "
            "worker = ?, updated = ?, etag = ? WHERE name = ?",
            (run, sha256, degraded, seconds, worker, _now(), etag, name),
        )

    def failed(self, name: str, error: str, final: bool) -> None:
        """Record an error; ``final`` when no retry is left."""
        self.db.execute(
            "UPDATE chunks SET status = ?, error = ?, updated = ? WHERE name = ?",
            ("failed" if final else "pending", error, _now(), name),
        )

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
