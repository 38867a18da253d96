#!/usr/bin/env bash
# The GPU benchmark as run on a lent machine (Python 3.12, torch image, no network):
# onnxruntime-gpu travels as 5 wheel parts (/tmp/ortparts) and the geo stack as wheels
# (/tmp/site), both installed by earlier calls; see RESULTS.md.
set -euo pipefail
export PYTHONUNBUFFERED=1
cat /tmp/ortparts/part* > /tmp/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ortsite /tmp/onnxruntime_gpu-*.whl
export PYTHONPATH=$PWD:/tmp/ortsite:/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
python3 -m benchmarks run --provider cuda --sizes "${SIZES:-4096,16384}" --batch 8 \
  --batch-sweep 1,2,4,8,16 --json "$OUT/gpu_cuda.json"
python3 -m benchmarks run --provider tensorrt --sizes 4096 --batch 8 --json "$OUT/gpu_trt.json" \
  || echo "TensorRT provider: not runnable here (no libnvinfer)"
