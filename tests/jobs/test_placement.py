"""Worker placement and cluster settings, planned without a GPU or a batch system."""

from __future__ import annotations

from pathlib import Path

import pytest

from costa.errors import OptionError
from costa.jobs import Job
from costa.jobs.clusters import ClusterSpec, parse_options
from costa.jobs.placement import plan_workers
from tests.conftest import assert_clean_error, costa


def test_one_worker_per_gpu_with_its_share_of_the_cores() -> None:
    places = plan_workers(4, cores=64, gpus=4)
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in places] == ["0", "1", "2", "3"]
    assert all(p.resources == {"GPU": 1} for p in places)
    assert {(p.env["GDAL_NUM_THREADS"], p.env["OMP_NUM_THREADS"]) for p in places} == {("16", "16")}
    cpu = plan_workers(3, cores=16)
    assert all(p.gpu is None and p.resources == {} and "CUDA_VISIBLE_DEVICES" not in p.env for p in cpu)
    assert [p.threads for p in cpu] == [5, 5, 5] and plan_workers(2, cores=16, threads=2)[0].threads == 2
    with pytest.raises(OptionError, match="more than the 2 GPU"):
        plan_workers(3, cores=16, gpus=2)


def test_a_job_file_cluster_block(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(
        "sources: dalles\nmodel: m.onnx\nout: out\nworkers: 8\n"
        "cluster:\n  queue: gpu\n  account: ign\n  cores: 16\n  memory: 64GB\n  gpus: 1\n"
        "  max_workers: 4\n  walltime: '12:00:00'\n  extra: [--constraint=h100, --qos=high]\n"
    )
    job = Job.from_file(tmp_path / "job.yaml")
    assert job.cluster == ClusterSpec(
        queue="gpu", account="ign", walltime="12:00:00", cores=16, memory="64GB", gpus=1,
        max_workers=4, extra=("--constraint=h100", "--qos=high"),
    )  # fmt: skip
    assert job.cluster.workers_for(job.workers, chunks=100) == 4  # capped by max_workers
    assert job.cluster.workers_for(job.workers, chunks=2) == 2  # no more workers than chunks
    assert Job.from_file(_job(tmp_path, "cluster: slurm")).cluster == ClusterSpec()


def test_bad_cluster_settings_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="unknown cluster option"):
        Job.from_file(_job(tmp_path, "cluster:\n  partition: gpu"))
    with pytest.raises(OptionError, match="cores='many' must be a whole number"):
        parse_options("slurm", {"cores": "many"})
    res = costa("predict", tmp_path, "-m", "m.onnx", "-o", tmp_path / "out", "--cluster", "slurm",
                "--cluster-option", "queue")  # fmt: skip
    assert_clean_error(res, "--cluster-option 'queue' must be KEY=VALUE")
    res = costa("predict", tmp_path, "-m", "m.onnx", "-o", tmp_path / "out", "--cluster", "pbs")
    assert_clean_error(res, "cluster kind 'pbs' is not one of slurm")


def _job(folder: Path, cluster: str) -> Path:
    path = folder / "job2.yaml"
    path.write_text(f"sources: dalles\nmodel: m.onnx\nout: out\n{cluster}\n")
    return path
