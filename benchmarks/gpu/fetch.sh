#!/usr/bin/env bash
# Here (with network): download what the lent GPU machine lacks, as cp312 wheels, into .gpu/
# (git-ignored, inside the working tree so that the device tool can carry it).
#   .gpu/ort/part*   onnxruntime-gpu 1.31.1 (CUDA 13 build, 255 MB) split in 50 MB parts: one per call
#   .gpu/wheels/     rasterio, rio-cogeo and the rest of costa's runtime missing there (< 50 MB)
# Then, one device call per part:  bash benchmarks/gpu/remote.sh part .gpu/ort/partaa   (carry .gpu/ort/partaa)
# and a last call:                 bash benchmarks/gpu/remote.sh bench                  (carry .gpu/wheels)
set -euo pipefail
cd "$(dirname "$0")/../.."
ORT_VERSION=${ORT_VERSION:-1.31.1}
mkdir -p .gpu/ort .gpu/wheels
dl() {
  local dest=$1; shift
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d "$dest" "$@"
}
if ! ls .gpu/ort/part* >/dev/null 2>&1; then
  dl .gpu/ort "onnxruntime-gpu==$ORT_VERSION"
  (cd .gpu/ort && sha256sum onnxruntime_gpu-*.whl > SHA256 && split -b 50M onnxruntime_gpu-*.whl part \
     && rm onnxruntime_gpu-*.whl)
fi
# What the machine's image lacks (it has numpy, torch, torchvision, timm, onnx, typer, rich, xarray,
# jinja2, pyyaml, huggingface_hub, safetensors, pillow): the geo stack and smp.
dl .gpu/wheels rasterio affine cligj click-plugins rio-cogeo morecantile pyproj pydantic pydantic-core \
  annotated-types typing-inspection segmentation-models-pytorch
du -sh .gpu/ort .gpu/wheels
