"""Jobs over dalle mosaics, with real Dask schedulers and worker processes on localhost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import rasterio
from rasterio.transform import from_origin

from costa.demo.territory import Territory, make_territory
from costa.inference import PredictOptions, predict
from costa.jobs import Job, run_job
from costa.models.zoo import demo_model_path
from costa.nomenclature import by_code
from tests.conftest import assert_clean_error, costa
from tests.jobs.conftest import S3, DaskProcesses, Slurm
from tests.jobs.proxy import StoreProxy

DALLE = 640
OPTS = ["--tile", "512", "--halo", "128"]
OPTIONS = PredictOptions(tile=512, halo=128)


@pytest.fixture(scope="module")
def terr(tmp_path_factory: pytest.TempPathFactory) -> Territory:
    return make_territory(tmp_path_factory.mktemp("terr"), seed=3, dalles=(3, 3), dalle_px=DALLE)


@pytest.fixture(scope="module")
def whole(terr: Territory, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """One prediction over the merged mosaic: the reference every job must match."""
    out = tmp_path_factory.mktemp("whole") / "whole.tif"
    predict(terr.ortho[2021], demo_model_path(), out, OPTIONS)
    with rasterio.open(out) as ds:
        return ds.read(1)


@pytest.fixture(scope="module")
def job_ref(terr: Territory, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """An uninterrupted job in this process: what every run of the same job must reproduce."""
    out = tmp_path_factory.mktemp("job_ref") / "out"
    run_job(Job({"main": str(terr.root / "dalles_2021")}, demo_model_path(), out, options=OPTIONS))
    return mosaic(out)


def dalles(terr: Territory) -> Path:
    return terr.root / "dalles_2021"


def mosaic(out: Path) -> np.ndarray:
    with rasterio.open(out / "landcover.vrt") as ds:
        return ds.read(1)


def manifest(out: Path) -> dict[str, tuple[str, int, int | None]]:
    with sqlite3.connect(out / "manifest.sqlite") as db:
        return {n: (s, a, r) for n, s, a, r in db.execute("SELECT name, status, attempts, run FROM chunks")}


def border_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Agreement overall and within 2 px of dalle borders, the mosaic's outer 32-px frame left out."""
    inner = (slice(32, -32), slice(32, -32))
    near = np.zeros(a.shape, bool)
    for k in range(DALLE, a.shape[0], DALLE):
        near[k - 2 : k + 2, :] = True
        near[:, k - 2 : k + 2] = True
    same = (a == b)[inner]
    return float(same.mean()), float(same[near[inner]].mean())


def test_rgb_and_irc_dalles_on_a_local_cluster_match_one_whole_prediction(
    terr: Territory, whole: np.ndarray, job_ref: np.ndarray, tmp_path: Path
) -> None:
    # Split each RGBN dalle into an RVB file and an IRC file (NIR, R, G) of the same name.
    for product, bands in (("RVB", [1, 2, 3]), ("IRC", [4, 1, 2])):
        (tmp_path / product).mkdir()
        for src in sorted(dalles(terr).glob("*.tif")):
            with rasterio.open(src) as ds:
                profile = {**ds.profile, "count": 3}
                with rasterio.open(tmp_path / product / src.name, "w", **profile) as dst:
                    dst.write(ds.read(bands))
    job = Job(
        {"main": str(tmp_path / "RVB"), "irc": str(tmp_path / "IRC")},
        demo_model_path(),
        tmp_path / "out",
        bands="1,2,3,irc:1",
        options=OPTIONS,
        workers=2,
    )
    messages: list[str] = []
    report = run_job(job, echo=messages.append)
    assert report.as_dict()["chunks"] == {
        "total": 9,
        "done": 9,
        "computed": 9,
        "skipped": 0,
        "failed": 0,
        "retried": 0,
        "degraded": 0,
    }
    assert report.as_dict()["workers"] == 2 and report.as_dict()["scheduler"] == "local-cluster"
    assert any("dashboard http://127.0.0.1:" in m for m in messages)
    assert len(report.peak_rss_mb_per_worker) == 2
    assert report.energy["joules"] is None and "no energy counter" in report.energy["reason"]
    assert report.km2 == pytest.approx(9 * (DALLE * 0.2) ** 2 / 1e6)
    got = mosaic(tmp_path / "out")
    assert np.array_equal(got, job_ref)  # two products on two workers = one product in process
    overall, border = border_agreement(got, whole)
    assert overall >= 0.999 and border >= 0.995, (overall, border)
    with rasterio.open(tmp_path / "out" / "landcover.vrt") as ds:
        assert ds.colormap(1)[1][:3] == by_code(1).rgb  # class colours travel with the mosaic
    one = sorted((tmp_path / "out").glob("SYN-*.tif"))[4]
    with rasterio.open(one) as ds:
        assert (ds.width, ds.height) == (DALLE, DALLE)
        assert ds.tags()["BANDS"] == "main:1,main:2,main:3,irc:1"
        assert one.name in ds.tags()["SOURCES"] and "IRC" in ds.tags()["SOURCES"]


def test_a_large_raster_is_cut_along_the_national_grid(tmp_path: Path) -> None:
    from tests.conftest import structured_image, write_raster

    img = structured_image(1, 600, 700)
    src = write_raster(tmp_path / "big.tif", img, res=0.2)
    with rasterio.open(src, "r+") as ds:  # straddle two Lambert-93 km dalles
        ds.transform = from_origin(380900.0, 6280000.0, 0.2, 0.2)
    report = run_job(Job({"main": str(src)}, demo_model_path(), tmp_path / "out", options=OPTIONS))
    assert sorted(p.name for p in (tmp_path / "out").glob("0*.tif")) == ["0380-6280.tif", "0381-6280.tif"]
    with rasterio.open(tmp_path / "out" / "0380-6280.tif") as ds:
        assert ds.width == 500 and ds.transform.c == 380900.0
    assert report.as_dict()["chunks"]["done"] == 2


def run_cli_job(src: Path | str, out: Path | str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "costa",
            "predict",
            str(src),
            "-m",
            str(demo_model_path()),
            "-o",
            str(out),
            *OPTS,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_done(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if (out / "manifest.sqlite").exists():
            try:
                if sum(s == "done" for s, _, _ in manifest(out).values()) >= n:
                    return
            except sqlite3.OperationalError:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("job made no progress")


def test_killing_a_worker_does_not_lose_the_job(terr: Territory, job_ref: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli_job(dalles(terr), out, "--workers", "2")
    wait_for_done(out, 1, proc)
    workers = [
        p
        for p in psutil.Process(proc.pid).children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())
    ]
    assert workers, "no Dask worker process found"
    os.kill(workers[0].pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert all(s == "done" for s, _, _ in manifest(out).values())
    assert np.array_equal(mosaic(out), job_ref)


def test_kill_9_then_rerun_resumes_without_recomputing(
    terr: Territory, job_ref: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = run_cli_job(dalles(terr), out)
    wait_for_done(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    before = {n: v for n, v in manifest(out).items() if v[0] == "done"}
    assert 2 <= len(before) < 9  # killed mid-run
    res = costa("status", out)
    assert res.returncode == 0 and f"{len(before)}/9 chunks done" in res.stdout
    res = costa("predict", dalles(terr), "-m", demo_model_path(), "-o", out, *OPTS)
    assert res.returncode == 0, res.stderr
    after = manifest(out)
    assert all(after[n] == v for n, v in before.items())  # same attempt count and run: not recomputed
    assert all(s == "done" and r == 2 for n, (s, _, r) in after.items() if n not in before)
    assert f"{len(before)} already done and verified" in res.stderr
    assert np.array_equal(mosaic(out), job_ref)  # pixel-identical to an uninterrupted run
    assert not list(out.glob(".*.tif"))  # temporaries of the killed run are gone


def test_corrupt_output_is_recomputed_on_rerun(terr: Territory, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_job(Job({"main": str(dalles(terr))}, demo_model_path(), out, options=OPTIONS))
    victim = sorted(out.glob("SYN-*.tif"))[0]
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2])
    warnings: list[str] = []
    report = run_job(
        Job({"main": str(dalles(terr))}, demo_model_path(), out, options=OPTIONS), warn=warnings.append
    )
    assert report.as_dict()["chunks"]["computed"] == 1 and report.as_dict()["chunks"]["skipped"] == 8
    assert any(victim.name in w and "checksum" in w for w in warnings)
    with rasterio.open(victim) as ds:
        assert ds.read(1).min() >= 1


def test_corrupt_dalles_fail_alone_and_name_themselves(terr: Territory, tmp_path: Path) -> None:
    src = tmp_path / "dalles"
    shutil.copytree(dalles(terr), src)
    files = sorted(src.glob("*.tif"))
    truncated, garbled = files[4], files[0]  # the centre dalle: every other dalle reads it for context
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    data = bytearray(garbled.read_bytes())  # header intact, compressed tiles garbled
    data[len(data) // 4 : len(data) // 2] = os.urandom(len(data) // 2 - len(data) // 4)
    garbled.write_bytes(bytes(data))
    out = tmp_path / "out"
    res = costa("predict", src, "-m", demo_model_path(), "-o", out, *OPTS, "--retries", "1")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert f"failed: {truncated.stem}: {truncated} is truncated or corrupt; copy or download" in res.stderr
    assert f"failed: {garbled.stem}: {garbled} is truncated or corrupt" in res.stderr
    assert "2 chunk(s) failed" in res.stderr
    assert "2 with a neighbour unreadable" in res.stderr  # the garbled dalle's two other neighbours
    states = manifest(out)
    assert states[garbled.stem][:2] == ("failed", 2)  # first attempt + one retry
    assert sum(s == "done" for s, _, _ in states.values()) == 7
    res = costa("status", out)
    assert f"failed: {garbled.stem} (2 attempts): {garbled} is truncated or corrupt" in res.stdout
    # fix the two files and rerun the same command: only they are computed
    for f in (truncated, garbled):
        shutil.copy(dalles(terr) / f.name, f)
    res = costa("predict", src, "-m", demo_model_path(), "-o", out, *OPTS, "--retries", "1")
    assert res.returncode == 0, res.stderr
    # the garbled dalle's neighbours read it as no data: redone too (the truncated one has no
    # readable header, so its place is simply outside the mosaic for its neighbours)
    assert "9 chunk(s) done (4 computed, 5 already done and verified), 0 failed, 0 with" in res.stderr
    states = manifest(out)
    assert states[garbled.stem] == ("done", 3, 2) and states[truncated.stem][0] == "done"
    assert sorted(n for n, (_, _, r) in states.items() if r == 2) == sorted(
        f.stem for f in (files[0], files[1], files[3], files[4])
    )


def test_sources_that_do_not_fit_together_are_named(terr: Territory, tmp_path: Path) -> None:
    src = tmp_path / "dalles"
    shutil.copytree(dalles(terr), src)
    odd = sorted(src.glob("*.tif"))[2]
    with rasterio.open(odd, "r+") as ds:
        ds.crs = "EPSG:2975"
    res = costa("predict", src, "-m", demo_model_path(), "-o", tmp_path / "o1")
    assert_clean_error(res, odd.name, "EPSG:2975", "share one CRS")
    with rasterio.open(odd, "r+") as ds:
        ds.crs = "EPSG:2154"
        t = ds.transform
        ds.transform = from_origin(t.c, t.f, 0.25, 0.25)
    res = costa("predict", src, "-m", demo_model_path(), "-o", tmp_path / "o2")
    assert_clean_error(res, odd.name, "share one resolution")
    with rasterio.open(odd, "r+") as ds:
        ds.transform = t
    res = costa("predict", src, "-m", demo_model_path(), "-o", tmp_path / "o3", "--bands", "1,2,3,irc:1")
    assert_clean_error(res, "product 'irc'", "--product irc=DIR")
    with rasterio.open(odd) as ds:
        profile, pixels = {**ds.profile, "dtype": "uint16"}, ds.read().astype("uint16")
    with rasterio.open(odd, "w", **profile) as ds:
        ds.write(pixels)
    res = costa("predict", src, "-m", demo_model_path(), "-o", tmp_path / "o4")
    assert_clean_error(res, odd.name, "uint16 pixels", "gdal_translate -ot Byte")


def test_job_file_and_changed_settings(terr: Territory, tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(
        f"sources: {{main: {dalles(terr)}}}\nmodel: {demo_model_path()}\nout: out\n"
        "options: {tile: 512, halo: 128}\nretries: 0\n"
    )
    res = costa("run", tmp_path / "job.yaml", "--quiet")
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "out").glob("SYN-*.tif"))) == 9
    res = costa("predict", dalles(terr), "-m", demo_model_path(), "-o", tmp_path / "out", "--halo", "64")
    assert_clean_error(res, "holds a job with other sources, model or settings")
    (tmp_path / "bad.yaml").write_text("sources: x\nmodel: m\nout: o\nspeed: 11\n")
    assert_clean_error(costa("run", tmp_path / "bad.yaml"), "unknown key(s) speed")


def test_dalles_streamed_in_bands_give_the_same_pixels(
    terr: Territory, job_ref: np.ndarray, tmp_path: Path
) -> None:
    """--chunk smaller than a dalle: each dalle is streamed in bands of tile rows, same output."""
    out = tmp_path / "out"
    options = PredictOptions(tile=512, halo=128, chunk=200)
    report = run_job(Job({"main": str(dalles(terr))}, demo_model_path(), out, options=options))
    assert report.chunks.failed == 0
    assert np.array_equal(mosaic(out), job_ref)


def test_a_scheduler_and_workers_started_apart_give_the_in_process_pixels(
    terr: Territory, job_ref: np.ndarray, dask_processes: DaskProcesses, tmp_path: Path
) -> None:
    """``--scheduler``: workers in other folders and temps than the client's, given relative paths."""
    client = tmp_path / "client"
    client.mkdir()
    src = os.path.relpath(dalles(terr), client)
    res = subprocess.run(
        [sys.executable, "-m", "costa", "predict", src, "-m", str(demo_model_path()), "-o", "out", *OPTS,
         "--scheduler", dask_processes.address],
        cwd=client,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = client / "out"
    assert np.array_equal(mosaic(out), job_ref)
    workers = {w for (w,) in sqlite3.connect(out / "manifest.sqlite").execute("SELECT worker FROM chunks")}
    assert workers == {"w0", "w1"}  # both remote workers took chunks
    assert f"Dask scheduler {dask_processes.address}: 2 worker(s)" in res.stderr


def test_a_job_on_slurm_gives_the_in_process_pixels_and_releases_its_workers(
    terr: Territory, job_ref: np.ndarray, slurm: Slurm, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "costa", "predict", str(dalles(terr)), "-m", str(demo_model_path()),
         "-o", str(out), *OPTS, "--cluster", "slurm", "--workers", "2", "--cluster-option", "cores=1",
         "--cluster-option", "memory=1GB", "--cluster-option", "walltime=00:10:00"],
        env=slurm.env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Slurm: 2 worker job(s) submitted (1 cores, 1GB each)" in res.stderr
    assert np.array_equal(mosaic(out), job_ref)
    run = json.loads((out / "run.json").read_text())
    assert run["scheduler"] == "slurm" and run["chunks"]["done"] == 9
    assert len(list((out / ".slurm").glob("*.err"))) == 2  # the workers' own logs, beside the job
    t0 = time.monotonic()
    while slurm.jobs():  # released at the end (scancel)
        assert time.monotonic() - t0 < 30, slurm.jobs()
        time.sleep(0.5)


@pytest.mark.parametrize("spec", ["s3://costa/dalles/", "s3://costa/dalles/SYN-*.tif"])
def test_dalles_on_object_storage_give_the_local_pixels(
    terr: Territory, job_ref: np.ndarray, s3: S3, spec: str, tmp_path: Path
) -> None:
    """A job whose dalles are on a real S3-compatible server (a prefix, a glob) on 2 workers."""
    s3.upload(dalles(terr), "dalles")
    out = tmp_path / "out"
    report = run_job(Job({"main": spec}, demo_model_path(), out, options=OPTIONS, workers=2))
    assert report.chunks.done == 9 and report.chunks.failed == 0
    assert np.array_equal(mosaic(out), job_ref)
    with rasterio.open(sorted(out.glob("SYN-*.tif"))[0]) as ds:
        assert json.loads(ds.tags()["SOURCES"])[0].startswith("/vsis3/costa/dalles/SYN-")


def test_outputs_on_object_storage_equal_the_local_ones_and_resume(
    terr: Territory, job_ref: np.ndarray, s3: S3, tmp_path: Path
) -> None:
    """Dalles, model and outputs on a real S3-compatible server, the manifest in a local --state."""
    s3.upload(dalles(terr), "dalles")
    model = s3.put(demo_model_path(), "models/demo.onnx")
    job = Job(
        {"main": "s3://costa/dalles/"},
        model,
        "s3://costa/out/landcover/",
        options=OPTIONS,
        workers=2,
        state=tmp_path / "state",
    )
    report = run_job(job)
    assert report.chunks.done == 9 and report.chunks.failed == 0
    objects = s3.objects("out/landcover")
    stems = sorted(n.removesuffix(".tif") for n in objects if n.endswith(".tif"))
    assert len(stems) == 9
    sidecars = {f"{s}{ext}" for s in stems for ext in (".tif.aux.xml", ".qml", ".stac.json")}
    assert set(objects) == {f"{s}.tif" for s in stems} | sidecars | {"landcover.vrt", "run.json"}
    with rasterio.open("/vsis3/costa/out/landcover/landcover.vrt") as ds:
        assert np.array_equal(ds.read(1), job_ref)
    item = json.loads(s3.text(f"out/landcover/{stems[0]}.stac.json"))
    assert item["assets"]["landcover"]["href"] == stems[0] + ".tif"
    run = json.loads(s3.text("out/landcover/run.json"))
    assert run["chunks"]["done"] == 9 and run["model"] == model
    assert {p.name for p in (tmp_path / "state").iterdir()} >= {"manifest.sqlite", "run.json"}
    assert not list((tmp_path / "state").glob("*.tif"))  # the COGs went to the store only

    s3.delete(f"out/landcover/{stems[4]}.tif")  # a lost output is redone, the others are verified
    again = run_job(job)
    assert (again.chunks.skipped, again.chunks.done) == (8, 9)
    assert manifest(tmp_path / "state")[stems[4]][2] == 2 and manifest(tmp_path / "state")[stems[0]][2] == 1
    with rasterio.open("/vsis3/costa/out/landcover/landcover.vrt") as ds:
        assert np.array_equal(ds.read(1), job_ref)


def test_a_worker_of_a_scheduler_killed_mid_job_loses_nothing(
    terr: Territory, job_ref: np.ndarray, dask_processes: DaskProcesses, tmp_path: Path
) -> None:
    """``dask worker`` w0 (nanny and worker) killed with SIGKILL mid-job: w1 finishes its dalles."""
    out = tmp_path / "out"
    proc = run_cli_job(dalles(terr), out, "--scheduler", dask_processes.address)
    wait_for_done(out, 1, proc)
    os.killpg(dask_processes.workers["w0"].pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert all(s == "done" for s, _, _ in manifest(out).values())
    assert np.array_equal(mosaic(out), job_ref)


def s3_job(terr: Territory, s3: S3, state: Path, **kw: object) -> Job:
    """The 3 × 3 dalles read from the store and their map written back to it."""
    s3.upload(dalles(terr), "dalles")
    return Job(
        {"main": "s3://costa/dalles/"},
        demo_model_path(),
        "s3://costa/out/",
        options=OPTIONS,
        state=state,
        **kw,
    )


def test_a_store_answering_503_and_slowly_is_retried(
    terr: Territory, job_ref: np.ndarray, s3: S3, flaky_s3: StoreProxy, tmp_path: Path
) -> None:
    """Every third request answered 503 SlowDown, each delayed 20 ms: nothing fails, nothing differs."""
    job = s3_job(terr, s3, tmp_path / "state", workers=2)
    flaky_s3.down()
    flaky_s3.fail_every, flaky_s3.delay = 3, 0.02
    flaky_s3.up()
    report = run_job(job)
    assert flaky_s3.failed > 50
    assert (report.chunks.done, report.chunks.failed, report.chunks.retried) == (9, 0, 0)
    with rasterio.Env(AWS_S3_ENDPOINT=s3.endpoint), rasterio.open("/vsis3/costa/out/landcover.vrt") as ds:
        assert np.array_equal(ds.read(1), job_ref)


def test_a_store_restarting_mid_job_does_not_stop_it(
    terr: Territory, job_ref: np.ndarray, s3: S3, flaky_s3: StoreProxy, tmp_path: Path
) -> None:
    """The store goes away for 3 s (connections cut, port closed) after the first COG: the job completes."""
    s3.upload(dalles(terr), "dalles")
    proc = run_cli_job("s3://costa/dalles/", "s3://costa/out/", "--state", str(tmp_path / "state"))
    wait_for_done(tmp_path / "state", 1, proc)
    flaky_s3.down()
    time.sleep(3)
    flaky_s3.up()
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert all(s == "done" for s, _, _ in manifest(tmp_path / "state").values())
    with rasterio.Env(AWS_S3_ENDPOINT=s3.endpoint), rasterio.open("/vsis3/costa/out/landcover.vrt") as ds:
        assert np.array_equal(ds.read(1), job_ref)


def test_a_job_killed_during_an_upload_leaves_no_partial_object_and_resumes(
    terr: Territory, job_ref: np.ndarray, s3: S3, flaky_s3: StoreProxy, tmp_path: Path
) -> None:
    """kill -9 while a COG is being put (uploads slowed to 8 kB/s): no object under its key.

    The rerun redoes only the chunks not done, and the map equals the uninterrupted run's.
    """
    s3.upload(dalles(terr), "dalles")
    flaky_s3.down()
    flaky_s3.put_rate = 8192
    flaky_s3.up()
    state = tmp_path / "state"
    proc = run_cli_job("s3://costa/dalles/", "s3://costa/out/", "--state", str(state))
    t0 = time.monotonic()
    while not (
        cut := [line[6:] for line in flaky_s3.log if line.startswith("start ") and line.endswith(".tif")]
    ):
        assert proc.poll() is None and time.monotonic() - t0 < 120, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    key = cut[0].removeprefix("/costa/out/")
    assert f"done {cut[0]}" not in flaky_s3.log  # killed mid-PUT
    stored = s3.objects("out")
    assert key not in stored
    done = {n for n, (s, _, _) in manifest(state).items() if s == "done"}
    assert {k.removesuffix(".tif") for k in stored if k.endswith(".tif")} == done  # every COG there is whole
    flaky_s3.down()
    flaky_s3.put_rate = 0
    flaky_s3.up()
    rerun = run_cli_job("s3://costa/dalles/", "s3://costa/out/", "--state", str(state))
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert f"({9 - len(done)} computed, {len(done)} already done and verified)" in stderr
    with rasterio.Env(AWS_S3_ENDPOINT=s3.endpoint), rasterio.open("/vsis3/costa/out/landcover.vrt") as ds:
        assert np.array_equal(ds.read(1), job_ref)
