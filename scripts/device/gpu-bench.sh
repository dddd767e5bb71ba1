#!/usr/bin/env bash
# Runs on a lent GPU machine from the repository root, after scripts/device/pack.sh filled .device/:
# GPU facts, the WebGPU correctness checks (scripts/device/gpu-check.ts), then `bench:gpu` (WGSL
# matmul vs fp32 peak and PyTorch; the sampling stage vs the reference on CUDA). Logs go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for f in .device/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && { export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd; break; }
done
echo "vulkan ICD: ${VK_ICD_FILENAMES:-none found}"
xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node
mkdir -p .device/node_modules/webgpu/dist/linux-x64 && xz -dc .device/dawn.node.xz > .device/node_modules/webgpu/dist/linux-x64/dawn.node
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu --format=csv
export LR_REFERENCE_DIR=$PWD/.device/ref PYTHONUNBUFFERED=1
timeout 90 /tmp/node .device/bench/gpu-check.js test/fixtures 2>&1 | tee "$OUT/gpu-check.log" | tail -25
timeout ${BENCH_TIMEOUT:-300} /tmp/node .device/bench/gpu.js "$@" 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/gpu-bench.log"
