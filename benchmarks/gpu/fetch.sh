#!/usr/bin/env bash
# Here (with network): prepare what the lent GPU machine lacks, in .gpu/ (git-ignored, inside the
# working tree so that the device tool can carry it), in three loads of < 58 MiB each:
#   .gpu/c1/  first part of onnxruntime-gpu 1.31.1 (CUDA 13 build), its CUDA provider pruned to
#             sm_90 machine code (prune_fatbin.py: 244 MB of wheel -> 59 MB of LZMA zip)
#   .gpu/c2/  the rest of it, rasterio and its pure-Python needs, smp, nvJPEG2000
#   .gpu/c3/  nvImageCodec and a 5000² RVB + IRC JPEG 2000 dalle pair (benchmarks jp2's files)
# Then, back to back (the machine stays warm 30 s between calls):
#   bash benchmarks/gpu/remote.sh stash .gpu/c1          (carry .gpu/c1)
#   bash benchmarks/gpu/remote.sh stash .gpu/c2          (carry .gpu/c2)
#   bash benchmarks/gpu/remote.sh stash .gpu/c3 bench    (carry .gpu/c3)
set -euo pipefail
cd "$(dirname "$0")/../.."
ORT_VERSION=${ORT_VERSION:-1.31.1}
PY=${PY:-.venv/bin/python}
W=.gpu/wheels
mkdir -p $W .gpu/c1 .gpu/c2 .gpu/c3
dl() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d $W "$@"
}
# What the machine's image lacks (it has numpy, torch, cupy, onnx, onnxscript, timm, attrs, click,
# pyparsing, nvidia-ml-py...): onnxruntime-gpu, the geo stack, smp, nvImageCodec.
dl "onnxruntime-gpu==$ORT_VERSION" rasterio affine cligj click-plugins segmentation-models-pytorch \
  nvidia-nvimgcodec-cu13 nvidia-nvjpeg2k-cu13
if [ ! -f .gpu/ort-sm90.zip ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && unzip -q "$OLDPWD"/$W/onnxruntime_gpu-*.whl)
  # TensorRT cannot load there (no libnvinfer); the C API library duplicates the Python module's
  rm -f "$tmp"/onnxruntime/capi/libonnxruntime_providers_tensorrt.so "$tmp"/onnxruntime/capi/libonnxruntime.so.*
  python3 benchmarks/gpu/prune_fatbin.py "$tmp"/onnxruntime/capi/libonnxruntime_providers_cuda.so 90
  python3 - "$tmp" <<'EOF'
import os, sys, zipfile
root = sys.argv[1]
with zipfile.ZipFile(".gpu/ort-sm90.zip", "w", zipfile.ZIP_LZMA) as z:
    for d, _, files in os.walk(os.path.join(root, "onnxruntime")):
        for f in files:
            z.write(os.path.join(d, f), os.path.relpath(os.path.join(d, f), root))
EOF
  rm -rf "$tmp"
fi
rm -f .gpu/c1/* .gpu/c2/* .gpu/c3/*
split -b 52M .gpu/ort-sm90.zip .gpu/ort-part.
mv .gpu/ort-part.aa .gpu/c1/ && mv .gpu/ort-part.ab .gpu/c2/
cp $W/rasterio-*.whl $W/affine-*.whl $W/cligj-*.whl $W/click_plugins-*.whl \
  $W/segmentation_models_pytorch-*.whl $W/nvidia_nvjpeg2k_cu13-*.whl .gpu/c2/
dl $(.venv/bin/python -m pip list 2>/dev/null | awk '/^pystac|^rio-stac/{print $1"=="$2}')  # the job writes STAC Items
cp $W/nvidia_nvimgcodec_cu13-*.whl $W/pystac*.whl $W/rio_stac-*.whl .gpu/c3/
$PY -c "from pathlib import Path; from benchmarks.bench_jp2 import write_dalles; write_dalles(Path('.gpu/jp2'), 1, 5000)"
cp .gpu/jp2/rvb/*.jp2 .gpu/c3/rvb.jp2 && cp .gpu/jp2/irc/*.jp2 .gpu/c3/irc.jp2
du -sh .gpu/c1 .gpu/c2 .gpu/c3
