"""On an NVIDIA GPU: the CUDA provider, fp16 and a job report measured by NVML.

Nothing is mocked: without a GPU whose driver loads and onnxruntime-gpu's CUDA provider,
every test here is skipped with the reason. ``benchmarks/gpu.sh`` measures speed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from costa.demo.synthetic import make_scene
from costa.demo.territory import make_territory
from costa.inference import PredictOptions, predict_array
from costa.inference.runtime import gpu_libraries_loadable, open_model
from costa.jobs import Job, run_job
from costa.models.quantize import convert_fp16
from costa.models.zoo import demo_model_path

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        "CUDAExecutionProvider" not in ort.get_available_providers() or not gpu_libraries_loadable("cuda"),
        reason="no NVIDIA GPU here (libcuda does not load or onnxruntime has no CUDA provider)",
    ),
]


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene(21, 1536, 1536).image


def test_cuda_matches_cpu(scene: np.ndarray) -> None:
    cpu, cuda = open_model(demo_model_path(), "cpu"), open_model(demo_model_path(), "cuda")
    assert cuda.provider == "cuda"
    a, b = predict_array(scene, cpu), predict_array(scene, cuda)
    assert (a == b).mean() >= 0.999


def test_fp16_on_cuda_agrees_with_fp32(scene: np.ndarray, tmp_path: Path) -> None:
    fp16 = open_model(convert_fp16(demo_model_path(), tmp_path / "fp16.onnx"), "cuda")
    ref = predict_array(scene, open_model(demo_model_path(), "cuda"))
    assert (predict_array(scene, fp16, PredictOptions(batch=4)) == ref).mean() >= 0.99


def test_job_on_the_gpu_reports_provider_and_energy(tmp_path: Path) -> None:
    terr = make_territory(tmp_path / "t", dalles=(2, 2), dalle_px=1024)
    job = Job(
        {"main": str(terr.root / "dalles_2024")},
        demo_model_path(),
        tmp_path / "out",
        options=PredictOptions(provider="cuda"),
    )
    data = run_job(job).as_dict()
    assert data["provider"] == "cuda" and data["chunks"]["done"] == 4
    energy = data["energy"]
    assert energy["joules"] > 0 and "nvml" in energy["measured_by"], energy  # Volta and newer count energy
