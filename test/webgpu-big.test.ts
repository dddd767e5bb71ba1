// WebGPU-resident big models (issue 29 item 4), tested at forced small limits so CI needs no 7B
// model: the device gets the adapter's real limits; weights past one storage binding are split into
// row-chunks (embedding, LM head, MLP and attention matrices here) and uploaded in small pieces, and
// the split model gives the unsplit one's bits — prefill logits, batched greedy ids through the KV
// cache, a LoRA training pass's loss and gradients; a device out of memory, a lost device and an
// activation past a binding end in errors that say what to do. Dawn on SwiftShader in Node.
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { createWebGPUBackend } from '../runtime/backend/webgpu/index.ts';
import { DeviceMemory, writePieces } from '../runtime/backend/webgpu/memory.ts';
import type { GPUTensor } from '../runtime/backend/webgpu/tensor.ts';
import type { Backend } from '../runtime/backend/types.ts';
import { LightReasonerError } from '../runtime/errors.ts';
import { generateGreedy } from '../runtime/model/generate.ts';
import { type CausalLM, loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { FIXTURES } from './helpers/cli.ts';
import { trainPassGrads } from './helpers/bit-identity.ts';
import { prefillLogits, sameBits } from './portable/bit-identity.ts';
import { nodeGPU } from './helpers/node-gpu.ts';

/** Untied bf16 head, f16 with q/k/v biases, tied f32 with Gemma's embedding scale and norm offset. */
const MODELS = ['llama-untied-bf16-llama3rope', 'qwen2-bias-f16', 'gemma3-sliding-f32'];
/** Weight binding cap: 16 bf16 rows (8 f32 rows) of 64 a chunk, so every matrix is split. */
const CAP = 2048;
/** Upload piece: 100 bytes, so a chunk takes many writeBuffer calls and some end ragged. */
const PIECE = 102;

async function gpuOrSkip(t: Test): Promise<GPU | null> {
  const gpu = await nodeGPU();
  if (gpu) return gpu;
  const msg = 'no WebGPU adapter (Node/Dawn); install a Vulkan driver or set VK_ICD_FILENAMES';
  if (process.env.CI) t.fail(`${msg} — required under CI`);
  else t.plan(0, msg);
  return null;
}

const load = (name: string, backend: Backend) => loadModel(join(FIXTURES, 'models', name), { fs: nodePlatform.fs, backend });
const chunksOf = (x: unknown) => (x as GPUTensor).chunks.length;

t.test('the device gets the adapter’s real limits, recorded in info.limits', async (t) => {
  const gpu = await gpuOrSkip(t);
  if (!gpu) return;
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' }))!;
  const be = await createWebGPUBackend(gpu);
  t.teardown(() => be.destroy());
  for (const name of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage'] as const) {
    t.equal(be.info.limits[name], adapter.limits[name], `${name}: ${adapter.limits[name]}`);
  }
  t.equal(
    be.info.limits.maxBindingBytes,
    Math.min(adapter.limits.maxBufferSize, adapter.limits.maxStorageBufferBindingSize),
    'maxBindingBytes: the smaller of the two',
  );
});

for (const name of MODELS) {
  t.test(`${name}: weights split into ${CAP}-byte bindings and uploaded in ${PIECE}-byte pieces = unsplit, bit for bit`, async (t) => {
    const gpu = await gpuOrSkip(t);
    if (!gpu) return;
    const one = await load(name, await createWebGPUBackend(gpu));
    const split = await load(name, await createWebGPUBackend(gpu, { maxBindingBytes: CAP, uploadPieceBytes: PIECE }));
    t.teardown(() => {
      one.backend.destroy();
      split.backend.destroy();
    });
    const w = split.weights,
      l0 = w.layers[0];
    t.equal(chunksOf(one.weights.embed), 1, 'unsplit: the embedding is one buffer');
    const counts = {
      embed: chunksOf(w.embed),
      lmHead: chunksOf(w.lmHead),
      q: chunksOf(l0.q),
      o: chunksOf(l0.o),
      gate: chunksOf(l0.gate),
      down: chunksOf(l0.down),
    };
    t.ok(
      Object.values(counts).every((c) => c >= 2),
      `split: ${JSON.stringify(counts)} buffers`,
    );
    const V = one.config.vocabSize;
    const prompt = Array.from({ length: 14 }, (_, p) => (p * 53 + 7) % V);
    t.ok(sameBits(await prefillLogits(split, prompt), await prefillLogits(one, prompt)), 'prefill logits of every position: identical bits');
    const gen = async (m: CausalLM) => (await generateGreedy(m, [prompt, prompt.slice(3)], { maxNewTokens: 8, eosTokenIds: [] })).tokens;
    t.same(await gen(split), await gen(one), 'batched greedy ids through the KV cache: identical');
    const a = await trainPassGrads(one, 2),
      b = await trainPassGrads(split, 2);
    t.ok(Object.is(a.loss, b.loss), `training loss: identical bits (${a.loss})`);
    const differ = [...a.grads].filter(([k, g]) => !sameBits(g, b.grads.get(k) ?? [])).map(([k]) => k);
    t.same(differ, [], `all ${a.grads.size} LoRA gradients: identical bits`);
  });
}

t.test('writePieces: every length and piece size lands whole, ragged tails included', async (t) => {
  const gpu = await gpuOrSkip(t);
  if (!gpu) return;
  const device = await (await gpu.requestAdapter())!.requestDevice();
  t.teardown(() => device.destroy());
  for (const [length, piece] of [
    [0, 16],
    [3, 16],
    [37, 8],
    [64, 64],
    [1001, 100],
    [1001, 4096],
    [4099, 1],
  ]) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 255);
    const size = Math.max(16, Math.ceil(length / 16) * 16);
    const buffer = device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const staging = device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    writePieces(device.queue, buffer, bytes, piece);
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const got = new Uint8Array(staging.getMappedRange().slice(0));
    staging.unmap();
    t.ok(sameBits(got.subarray(0, length), bytes) && got.subarray(length).every((v) => v === 0), `${length} bytes in pieces of ${piece}`);
  }
});

t.test('a device out of memory mid-load: an environment error naming the file, the tensor and what fit', async (t) => {
  const gpu = await gpuOrSkip(t);
  if (!gpu) return;
  const be = await createWebGPUBackend(gpu);
  t.teardown(() => be.destroy());
  // The 5th weight's out-of-memory scope reports what a full GPU reports (SwiftShader has the host's RAM).
  const device = (be as unknown as { device: GPUDevice }).device;
  const filters: GPUErrorFilter[] = [];
  const [push, pop] = [device.pushErrorScope.bind(device), device.popErrorScope.bind(device)];
  let oomScopes = 0;
  device.pushErrorScope = (filter) => (filters.push(filter), push(filter));
  device.popErrorScope = async () => {
    const real = await pop();
    return filters.pop() === 'out-of-memory' && ++oomScopes === 5 ? ({ message: 'simulated: no memory left' } as GPUError) : real;
  };
  const err = await load('llama-untied-bf16-llama3rope', be).then(
    () => null,
    (e: Error) => e,
  );
  t.ok(err instanceof LightReasonerError, `a LightReasonerError, not an internal error: ${err?.message}`);
  t.equal((err as LightReasonerError).code, 'ENVIRONMENT', 'exit 1: the machine');
  // Named at its own tensor, the 5th weight: the loader flushes after each one (without that, a later tensor).
  t.match(
    err?.message ?? '',
    /llama-untied-bf16-llama3rope\/model-\d+-of-\d+\.safetensors: tensor "model\.layers\.0\.self_attn\.v_proj\.weight" \(6 KiB\) could not be allocated \(the GPU ran out of memory for weight \[48,64\] bf16 \(\d+ KiB\) with \d+ KiB of weights already on it: simulated: no memory left\) — the webgpu backend or this machine lacks the memory; use a smaller model or another --backend/,
  );
});

t.test('a lost device and an uncaptured out-of-memory are environment errors; other GPU errors stay bugs', async (t) => {
  const fake = (lost: Promise<GPUDeviceLostInfo>) => {
    const listeners: ((e: unknown) => void)[] = [];
    const device = { lost, addEventListener: (_: string, f: (e: unknown) => void) => listeners.push(f) } as unknown as GPUDevice;
    return {
      memory: new DeviceMemory(device),
      raise: (error: unknown) => {
        for (const f of listeners) f({ error });
      },
    };
  };
  const lost = fake(Promise.resolve({ reason: 'unknown', message: 'driver reset' } as GPUDeviceLostInfo));
  await new Promise((r) => setTimeout(r, 0));
  t.throws(() => lost.memory.check(), {
    code: 'ENVIRONMENT',
    message: /the WebGPU device was lost \(unknown: driver reset\), with 0 KiB of weights on it — use a smaller model/,
  });
  class GPUOutOfMemoryError {
    message = 'vkAllocateMemory failed';
  }
  const oom = fake(new Promise(() => {}));
  oom.raise(new GPUOutOfMemoryError());
  t.throws(() => oom.memory.check(), { code: 'ENVIRONMENT', message: /the GPU ran out of memory \(vkAllocateMemory failed\)/ });
  const bug = fake(new Promise(() => {}));
  bug.raise({ message: 'binding size too small' });
  const e = t.throws(() => bug.memory.check()) as unknown;
  t.notOk(e instanceof LightReasonerError, 'a validation error is a bug (internal error with its stack)');
});

t.test('an activation past one binding is refused before allocating, naming the limit', async (t) => {
  const gpu = await gpuOrSkip(t);
  if (!gpu) return;
  const be = await createWebGPUBackend(gpu);
  t.teardown(() => be.destroy());
  const max = be.info.limits.maxStorageBufferBindingSize;
  t.throws(() => be.createTensor('f32', [Math.floor(max / 4 / 1024) + 1, 1024]), {
    code: 'BAD_INPUT',
    message: new RegExp(
      `needs ${max + 4096} bytes \\(1.00 GiB\\), more than one storage binding of this WebGPU device holds \\(${max}, its maxStorageBufferBindingSize\\) — process fewer rows at once \\(lower --batch-size`,
    ),
  });
});
