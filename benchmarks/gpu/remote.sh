#!/usr/bin/env bash
# There (the lent GPU machine: Python 3.12 with torch, CUDA 13 libraries, no network), in the repo root.
#   remote.sh part .gpu/ort/partXX   append one part of the onnxruntime-gpu wheel (the machine stays
#                                    warm 30 s between calls: make the calls back to back)
#   remote.sh bench                  install the wheel and .gpu/wheels, check the CUDA provider, run
#                                    the benchmarks into $OUT
set -euo pipefail
export PYTHONUNBUFFERED=1
STAGE=/tmp/costa-gpu
mkdir -p "$STAGE"
case "${1:-}" in
  part)
    cp "$2" "$STAGE/$(basename "$2")"
    ls -l "$STAGE"
    ;;
  bench)
    cat "$STAGE"/part* > "$STAGE/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl"
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$STAGE/site" \
      "$STAGE"/onnxruntime_gpu-*.whl .gpu/wheels/*.whl
    export PYTHONPATH=$PWD:$STAGE/site
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    # torch first: its CUDA 13 / cuDNN 9 libraries are what onnxruntime's CUDA provider loads
    python3 -c "import torch, onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
    python3 -m benchmarks run --provider cuda --sizes "${SIZES:-4096,16384}" --batch 8 \
      --batch-sweep 1,2,4,8,16 --json "$OUT/gpu_cuda.json"
    python3 -m benchmarks run --provider tensorrt --sizes 4096 --batch 8 --json "$OUT/gpu_trt.json" \
      || echo "TensorRT provider: unavailable here (no libnvinfer 10 on the machine)"
    ;;
  *)
    echo "usage: remote.sh part FILE | bench" >&2
    exit 2
    ;;
esac
