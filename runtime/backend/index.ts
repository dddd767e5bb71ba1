// Backend selection: `auto` takes WebGPU when the host has an adapter, else Wasm.
import { LightReasonerError } from '../errors.ts';
import type { Platform } from '../platform/types.ts';
import { ReferenceBackend } from './reference.ts';
import type { Backend } from './types.ts';
import { createWasmBackend } from './wasm/index.ts';
import { createWebGPUBackend } from './webgpu/index.ts';

export type BackendChoice = 'auto' | 'webgpu' | 'wasm' | 'reference';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'reference'];

export async function createBackend(choice: BackendChoice, platform: Platform): Promise<Backend> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new LightReasonerError('BAD_INPUT', `unknown backend "${choice}" (choose one of ${BACKEND_CHOICES.join(', ')})`);
  }
  if (choice === 'reference') return new ReferenceBackend();
  if (choice === 'wasm') return createWasmBackend();
  const gpu = await platform.getGPU();
  if (choice === 'auto') {
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (!adapter) return createWasmBackend();
  }
  if (!gpu) {
    throw new LightReasonerError('BACKEND_UNAVAILABLE', `WebGPU is not available in this ${platform.name} runtime; use --backend wasm (or auto)`);
  }
  return createWebGPUBackend(gpu);
}

export type { Backend, BackendInfo, Tensor } from './types.ts';
