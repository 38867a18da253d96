#!/usr/bin/env bash
# There (the lent GPU machine: Python 3.12 with torch, cupy, CUDA 13 libraries, no network), in the
# repo root, with the loads prepared by fetch.sh:
#   remote.sh stash .gpu/cN          keep one load in /tmp until the last call (the machine stays
#                                    warm 30 s between calls: make the calls back to back)
#   remote.sh stash .gpu/c3 bench    keep the last load, install everything, run the benchmark
#                                    into $OUT/gpu.json (written after each of its sections)
set -euo pipefail
export PYTHONUNBUFFERED=1
STAGE=/tmp/costa-gpu
mkdir -p "$STAGE/load"
[ "${1:-}" = stash ] || { echo "usage: remote.sh stash DIR [bench]" >&2; exit 2; }
cp "$2"/* "$STAGE/load/"
ls -l "$STAGE/load"
[ "${3:-}" = bench ] || exit 0
cd "$STAGE/load"
cat ort-part.* > ort.zip
python3 -m zipfile -e ort.zip "$STAGE/site"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$STAGE/site" $(ls ./*.whl | grep -v nvidia_)
# nvImageCodec apart: its 'nvidia' package must not hide the image's (CUDA, cuDNN for onnxruntime)
python3 -m pip install -q --no-index --no-deps --no-compile --target "$STAGE/nv" ./nvidia_*.whl
cd "$OLDPWD"
export PYTHONPATH=$PWD:$STAGE/site NVIMGCODEC_NVIDIA=$STAGE/nv/nvidia
export LD_LIBRARY_PATH=$STAGE/nv/nvidia/nvjpeg2k/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv,noheader
python3 -c "import torch, onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
timeout "${BENCH_TIMEOUT:-400}" python3 -m benchmarks gpu --json "$OUT/gpu.json" \
  --jp2 "$STAGE/load/rvb.jp2" "$STAGE/load/irc.jp2" --workdir "$STAGE/work" ${BENCH_ARGS:-}
# the GPU tests CI always skips (the job test needs costa's full install: it may fail on imports here)
[ -n "${NO_TESTS:-}" ] || timeout 150 python3 -m pytest -q -p no:cacheprovider -o addopts=-ra -W ignore tests/inference/test_gpu.py \
  2>&1 | tee "$OUT/gpu_tests.txt" | tail -15 || true
