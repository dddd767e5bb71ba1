// Entry point of the WebGPU backend: pick an adapter, ask for a device with the adapter's real
// limits (the defaults cap storage bindings at 128 MiB, too small for a 151,936 × 896 LM head even
// in bf16), enable shader-f16 when present, and wrap it in a WebGPUBackend.

import { LightReasonerError } from '../../errors.ts';
import type { Backend, BackendInfo } from '../types.ts';
import { type MatmulKernel, WebGPUBackend } from './backend.ts';

export { chooseMatmul, type MatmulKernel, splitSlices, WebGPUBackend } from './backend.ts';

export class WebGPUUnavailableError extends LightReasonerError {
  constructor(message: string, cause?: unknown) {
    super('BACKEND_UNAVAILABLE', message, { cause });
    this.name = 'WebGPUUnavailableError';
  }
}

/** What to install for an adapter. Debian 12's Mesa lavapipe lacks shaderUniform*ArrayDynamicIndexing,
 * which this Dawn requires; SwiftShader (shipped with Chromium) has it. */
export const WEBGPU_ADVICE =
  'install a GPU driver (Vulkan, Metal or D3D12), or on a machine without a GPU point the Vulkan loader at ' +
  "SwiftShader (VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json, from Debian's chromium package) " +
  "or at the lavapipe of a Mesa newer than Debian 12's";

export interface WebGPUOptions {
  /** Cap on one storage binding, below the device's own limit (tests use it to force weight chunking). */
  maxBindingBytes?: number;
  /** Use native f16 arithmetic for f16 weights when the device has shader-f16 (default true). */
  useShaderF16?: boolean;
  powerPreference?: GPUPowerPreference;
  /** Force one matmul kernel instead of choosing by row count (tests and benches compare them). */
  matmulKernel?: MatmulKernel;
  /** Force the large matmul kernel's split-K slice count (1 = none; tests and benches). */
  matmulSplitK?: number;
  /** Bytes per queue.writeBuffer call when uploading a weight (default 16 MiB; tests set it small). */
  uploadPieceBytes?: number;
}

/** The limits worth raising to the adapter's maximum; everything else keeps its default. */
const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

export async function createWebGPUBackend(gpu: GPU, options: WebGPUOptions = {}): Promise<Backend> {
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new WebGPUUnavailableError(`WebGPU adapter request failed: ${(e as Error).message}`, e);
  }
  if (!adapter) {
    throw new WebGPUUnavailableError(`no WebGPU adapter found. To use WebGPU, ${WEBGPU_ADVICE}; or run with --backend wasm.`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const useF16 = options.useShaderF16 !== false && adapter.features.has('shader-f16');
  const requiredFeatures: GPUFeatureName[] = useF16 ? ['shader-f16'] : [];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: 'lightreasoner', requiredLimits, requiredFeatures });
  } catch (e) {
    throw new WebGPUUnavailableError(`WebGPU device request failed: ${(e as Error).message}`, e);
  }
  const limits: Record<string, number> = {};
  for (const name of LIMITS) limits[name] = (device.limits as unknown as Record<string, number>)[name];
  const maxBindingBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize, options.maxBindingBytes ?? Infinity);
  limits.maxBindingBytes = maxBindingBytes;
  const ai = adapter.info;
  const desc = [ai?.description, ai?.vendor, ai?.architecture].filter((s) => s).join(' / ') || 'unknown WebGPU adapter';
  const info: BackendInfo = Object.freeze({
    kind: 'webgpu' as const,
    device: desc,
    // the device's WebGPU features, and 'quantized': the weight accessors read q8_0 / q4_0 blocks
    features: Object.freeze([...[...device.features].map(String), 'quantized'].sort()),
    limits: Object.freeze(limits),
  });
  return new WebGPUBackend({
    device,
    info,
    maxBindingBytes,
    useF16,
    matmulKernel: options.matmulKernel,
    matmulSplitK: options.matmulSplitK,
    uploadPieceBytes: options.uploadPieceBytes,
  });
}
