"""Jobs over many dalles, by phase: spec → plan → run (executors, workers, manifest) → report.

* :mod:`costa.jobs.spec` — :class:`Job`, from the CLI or a YAML job file;
* :mod:`costa.jobs.plan` — sources scanned, chunks cut, the job's fingerprint;
* :mod:`costa.jobs.run` — :func:`run_job` (resume, lock, mosaic) and :func:`status`;
* :mod:`costa.jobs.executors` — in process, ``LocalCluster`` or a scheduler, kept fed;
* :mod:`costa.jobs.worker` — what runs on a worker: one chunk to one COG;
* :mod:`costa.jobs.manifest` — the SQLite manifest that makes a job resumable;
* :mod:`costa.jobs.energy` — NVML / RAPL energy counters;
* :mod:`costa.jobs.report` — :class:`RunReport`, written to ``run.json``.
"""

from costa.jobs.report import ChunkCounts, RunReport
from costa.jobs.run import run_job, status
from costa.jobs.spec import Job

__all__ = ["ChunkCounts", "Job", "RunReport", "run_job", "status"]
