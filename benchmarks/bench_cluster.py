"""The same dalle job on each kind of Dask cluster: what starting and feeding workers costs.

    python -m benchmarks cluster [--dalles 4] [--dalle-px 1024] [--json FILE]

A 4 × 4 mosaic of synthetic dalles (the demo model, its card's tile and halo) runs in this
process, on 2 local worker processes (``--workers 2``), on the same 2 workers reading the
dalles from and writing the map to a local S3-compatible server (``s3``: moto, a Python
process; ``s3-s3rver``: s3rver, a Node.js one, from ``npm install --prefix benchmarks/.node
s3rver@3.7.1``), on 2 workers of a separate ``dask
scheduler`` (``--scheduler``) and on 2 Slurm jobs of a single-node Slurm started here
(``--cluster slurm``; needs root and Debian's slurm-wlm and munge). Each also runs a job of
one dalle, so that the seconds to start (one-dalle wall time over the in-process one) and per
dalle (the 16-dalle difference over the local cluster, divided by 16) can be told apart.
Outputs are checked pixel-identical to the in-process run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from costa.demo.territory import make_territory
from costa.jobs import Job, run_job
from costa.jobs.clusters import ClusterSpec
from costa.models.zoo import demo_model_path


@contextlib.contextmanager
def cluster_of(mode: str, work: Path, src: Path, one: Path) -> Iterator[dict[str, Any]]:
    """The Job fields (and environment) that send a job to ``mode``'s workers (``s3``: 2 local
    workers reading the same dalles from a local S3 server)."""
    if mode == "in-process":
        yield {}
    elif mode == "local":
        yield {"workers": 2}
    elif mode.startswith("s3"):
        from tests.jobs.conftest import local_s3

        with local_s3(server=mode.partition("-")[2] or "moto", root=work) as s3:
            os.environ.update(s3.env)
            s3.upload(src, "dalles")
            s3.upload(one, "one")
            yield {
                "workers": 2,
                "sources": {"one": "s3://costa/one/", "all": "s3://costa/dalles/"},
                "store": True,
                "server": s3.pid,
            }
    elif mode == "scheduler":
        from tests.jobs.conftest import DaskProcesses, free_port

        procs = DaskProcesses(f"tcp://127.0.0.1:{free_port()}", work / "dask")
        with contextlib.ExitStack() as stack:
            stack.callback(procs.stop)
            procs.start_scheduler()
            for name in ("w0", "w1"):
                procs.start_worker(name)
            procs.wait_for_workers(2)
            yield {"scheduler": procs.address}
    else:
        from tests.jobs.conftest import local_slurm

        with local_slurm(work / "slurm") as slurm:
            os.environ["SLURM_CONF"] = str(slurm.conf)
            cores = max(1, (os.cpu_count() or 2) // 2)
            yield {"workers": 2, "cluster": ClusterSpec(cores=cores, memory="3GB", walltime="00:30:00")}


def run(
    src: str, out: Path, fields: dict[str, Any], ref: np.ndarray | None, *, store: bool, server: int
) -> dict[str, Any]:
    """One job; with ``store`` its map goes to ``s3://costa/<out's name>/``, its manifest to ``out``.

    ``server``: the S3 server's process, whose CPU seconds during the job are reported (on a
    small machine the store competes with the workers for the same cores).
    """
    shutil.rmtree(out, ignore_errors=True)
    cpu0 = _cpu_s(server)
    target = f"s3://costa/{out.name}/" if store else out
    state = out if store else None
    t0 = time.perf_counter()
    rep = run_job(Job({"main": src}, demo_model_path(), target, state=state, **fields)).as_dict()
    wall = time.perf_counter() - t0
    vrt = f"/vsis3/costa/{out.name}/landcover.vrt" if store else out / "landcover.vrt"
    with rasterio.open(vrt) as ds:
        labels = ds.read(1)
    return {
        "wall_s": round(wall, 2),
        "mpx_per_s": rep["mpx_per_s"],
        "identical_to_in_process": None if ref is None else bool(np.array_equal(labels, ref)),
        "server_cpu_s": round(_cpu_s(server) - cpu0, 2) if server else None,
        "labels": labels,
    }


def _cpu_s(pid: int) -> float:
    if not pid:
        return 0.0
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def rest(row: dict[str, Any]) -> float:
    """Seconds of a mode's full job beyond its one-dalle job (start-up left out)."""
    return float(row["all_dalles"]["wall_s"] - row["one_dalle"]["wall_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dalles", type=int, default=4, help="dalles per side")
    ap.add_argument("--dalle-px", type=int, default=1024)
    ap.add_argument("--modes", default="in-process,local,s3,s3-s3rver,scheduler,slurm")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="costa-bench-cluster-"))
    n = args.dalles
    terr = make_territory(work / "terr", seed=0, dalles=(n, n), dalle_px=args.dalle_px)
    full = terr.root / "dalles_2021"
    one = work / "one"
    one.mkdir()
    shutil.copy(sorted(full.glob("*.tif"))[0], one)
    rows: dict[str, Any] = {}
    refs: dict[str, np.ndarray] = {}
    for mode in args.modes.split(","):
        with cluster_of(mode, work / mode, full, one) as fields:
            sources = fields.pop("sources", {"one": str(one), "all": str(full)})
            kw = {"store": fields.pop("store", False), "server": fields.pop("server", 0)}
            row = {
                "one_dalle": run(sources["one"], work / f"out-{mode}-1", fields, refs.get("one"), **kw),
                "all_dalles": run(sources["all"], work / f"out-{mode}-n", fields, refs.get("all"), **kw),
            }
        refs.setdefault("one", row["one_dalle"].pop("labels"))
        refs.setdefault("all", row["all_dalles"].pop("labels"))
        row["one_dalle"].pop("labels", None)
        row["all_dalles"].pop("labels", None)
        rows[mode] = row
        print(mode, json.dumps(row), flush=True)
    base = rows.get("in-process")
    local = rows.get("local")
    for row in rows.values():
        if base:
            row["start_s"] = round(row["one_dalle"]["wall_s"] - base["one_dalle"]["wall_s"], 2)
        if local:  # the time of the 15 dalles after the first, against the local workers'
            row["s_per_dalle_vs_local"] = round((rest(row) - rest(local)) / (n**2 - 1), 3)
            row["throughput_vs_local"] = round(rest(local) / rest(row), 3)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "dalles": n**2,
        "dalle_px": args.dalle_px,
        "rows": rows,
        "command": "python -m benchmarks cluster",
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
