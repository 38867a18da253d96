"""What a job is: sources, model, output folder and options, from the CLI or a YAML file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costa.errors import OptionError, first_line
from costa.inference.options import PredictOptions
from costa.io.mosaic import MAIN
from costa.io.remote import is_remote
from costa.jobs.clusters import ClusterSpec, parse_options

__all__ = ["Job", "JobProgress"]

JobProgress = Callable[[int, int], None]
"""Called as ``progress(chunks finished, chunks total)``."""


@dataclass(frozen=True)
class Job:
    """What to predict, with which model, where; the same from the CLI and a job file.

    Attributes:
        sources: product name → dalles (folder, glob, list file, VRT or one raster, or several);
            ``main`` is required and sets the output grid.
        model: ONNX model with costa metadata (a file, or an ``s3://`` URL).
        out: output folder (created), or an ``s3://`` prefix the outputs are uploaded to.
        bands: band recipe such as ``1,2,3,irc:1`` (default: the main product's first bands).
        options: tile, halo, batch, provider... as for :func:`costa.predict`.
        grid: national grid preset to cut one large raster (``auto``: by its CRS; ``none``).
        workers: Dask worker processes on this machine (None: run in this process).
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``).
        retries: extra attempts for a chunk that fails before it is marked failed.
        cluster: start the workers as batch jobs (Slurm), ``workers`` of them.
        state: local folder of the job's manifest, lock and logs (default: ``out``; required
            when ``out`` is on object storage, so that a rerun resumes).

    """

    sources: Mapping[str, str | tuple[str, ...]]
    model: Path | str
    out: Path | str
    bands: str | None = None
    options: PredictOptions = field(default_factory=PredictOptions)
    grid: str | None = "auto"
    workers: int | None = None
    scheduler: str | None = None
    retries: int = 2
    cluster: ClusterSpec | None = None
    state: Path | None = None

    def __post_init__(self) -> None:
        out = str(self.out)
        if is_remote(out) and not out.startswith("s3://"):
            raise OptionError(f"--out {out}: outputs go to a local folder or an s3:// prefix")
        if is_remote(out) and self.state is None:
            raise OptionError(
                f"--out {out} is on object storage: give --state DIR, a local folder for the job's "
                "manifest (rerun with the same --state to resume)"
            )

    @property
    def remote(self) -> str | None:
        """The ``s3://`` prefix the outputs are uploaded to (no trailing slash), or None."""
        out = str(self.out)
        return out.rstrip("/") if is_remote(out) else None

    @property
    def folder(self) -> Path:
        """The local folder of the manifest, lock and logs: ``state``, else the output folder."""
        return Path(self.state if self.state is not None else self.out)

    @classmethod
    def from_file(cls, path: str | Path) -> Job:
        """Read a YAML job file (keys as the attributes; ``options`` as PredictOptions fields).

        Relative paths in it are relative to the file.
        """
        path = Path(path)
        data = _read_yaml(path)
        base = path.parent

        def local(value: Any) -> str | Path:
            """A job file's path, relative to the file unless it is a URL."""
            return str(value) if is_remote(str(value)) else base / str(value)

        _check_keys(path, data, {f.name for f in dataclasses.fields(cls)}, "key")
        options = data.get("options") or {}
        _check_keys(path, options, {f.name for f in dataclasses.fields(PredictOptions)}, "option")
        sources = data["sources"]
        if isinstance(sources, str):
            sources = {MAIN: sources}
        return cls(
            sources={
                k: tuple(str(local(x)) for x in v) if isinstance(v, list) else str(local(v))
                for k, v in sources.items()
            },
            model=local(data["model"]),
            out=local(data["out"]),
            bands=None if data.get("bands") is None else str(data["bands"]),
            options=PredictOptions(**options),
            grid=data.get("grid", "auto"),
            workers=data.get("workers"),
            scheduler=data.get("scheduler"),
            retries=int(data.get("retries", 2)),
            cluster=_cluster(path, data.get("cluster")),
            state=None if data.get("state") is None else base / str(data["state"]),
        )


def _cluster(path: Path, block: Any) -> ClusterSpec | None:
    """The ``cluster:`` block of a job file: ``slurm``, or a mapping with ``kind`` and options."""
    if block is None:
        return None
    if isinstance(block, str):
        return parse_options(block, {})
    if not isinstance(block, Mapping):
        raise OptionError(f"job file {path}: cluster must be a kind (slurm) or a mapping of options")
    return parse_options("slurm", block)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise OptionError(f"cannot read job file {path}: {first_line(e)}") from None
    if not isinstance(data, dict) or not {"sources", "model", "out"} <= set(data):
        raise OptionError(f"job file {path} must be a mapping with at least sources, model and out")
    return data


def _check_keys(path: Path, data: Mapping[str, Any], known: set[str], what: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise OptionError(f"job file {path}: unknown {what}(s) {', '.join(unknown)} (known: {sorted(known)})")
