#!/usr/bin/env bash
# Prepares .device/ (git-ignored through .git/info/exclude) for a run on a lent GPU machine, which
# has Python + torch but no Node, no npm registry and no Vulkan loader: a compressed Node binary,
# Dawn (the `webgpu` package, linux-x64 only), single-file bundles of bench/gpu.ts, bench/stage1.ts
# and scripts/device/gpu-check.ts, the shared reference sampling script, and Debian's Vulkan loader.
# Then, on the device: `bash scripts/device/gpu-bench.sh` (carry .device).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
rm -rf .device && mkdir -p .device/bench .device/node_modules/webgpu .device/ref .device/gl
npm run build >/dev/null
xz -T2 -3 -c "$(command -v node)" > .device/node.xz
cp node_modules/webgpu/{index.js,package.json} .device/node_modules/webgpu/
xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > .device/dawn.node.xz
banner="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
for entry in dist/bench/gpu.js dist/bench/stage1.js scripts/device/gpu-check.ts; do
  npx esbuild "$entry" --bundle --platform=node --format=esm --target=node20 --external:webgpu \
    --banner:js="$banner" --log-level=warning --outfile=".device/bench/$(basename "${entry%.*}").js"
done
echo '{"type":"module"}' > .device/bench/package.json
cp "${LR_REFERENCE_DIR:-../shared/bench}/reference_sampling.py" .device/ref/
(cd .device/gl && apt-get download libvulkan1 libglvnd0 libegl1 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1)  # the NVIDIA ICD needs libglvnd
du -sh .device
