// Child process of `npm run bench` for figures 1 (sampling) and 5 (memory): loads an expert and an
// amateur from BF16 safetensors checkpoints written by the parent (so the file → linear memory path
// is what the memory figure measures), each on its own Wasm backend as the CLI does, runs stage 1
// (contrastPrompts) on the issue-6 workload and prints one JSON line: wall time, a breakdown of where
// the sampling loop spent it, and peak RSS against weight + KV cache bytes. A separate process, so
// peak RSS (a process-lifetime maximum) holds nothing but this workload.
//
// node dist/bench/stage1.js <expertDir> <amateurDir> <problems> <promptTokens> <newTokens> <stopAfterSteps|0> [wasm|webgpu]
// On WebGPU the ops only record work (the GPU runs it at each readback), so there the breakdown's
// forward times are recording time and the waits land in `readbacks`.

import { readFileSync } from 'node:fs';
import { createBackend } from '../runtime/backend/index.ts';
import type { Backend, Tensor } from '../runtime/backend/types.ts';
import { CausalLM, type ForwardInput, type KVCache } from '../runtime/model/model.ts';
import { randomValues, SHAPES } from '../tooling/random-model.ts';
import { loadWeights } from '../runtime/model/weights.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { contrastPrompts } from '../runtime/stage/contrast.ts';

const [expertDir, amateurDir, problemsArg, promptArg, newArg, stopArg, backendArg] = process.argv.slice(2);
const backend = backendArg === 'webgpu' ? 'webgpu' : 'wasm';
const problems = Number(problemsArg),
  promptLen = Number(promptArg),
  newTokens = Number(newArg),
  stopAfter = Number(stopArg);

/** Peak resident set of this process in bytes (VmHWM; resourceUsage().maxRSS where /proc is absent). */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

function kvBytes(c: KVCache): number {
  return [...c.k, ...c.v].reduce((s, t) => s + t.size * 4, 0);
}

/** Time spent inside a method (Wasm ops are synchronous, so this is their compute time). */
function timed<T extends object>(obj: T, key: keyof T & string, acc: Record<string, number>, label: string): void {
  const f = (obj[key] as unknown as (...a: unknown[]) => unknown).bind(obj);
  (obj as Record<string, unknown>)[key] = (...a: unknown[]) => {
    const t0 = performance.now();
    const r = f(...a);
    if (r instanceof Promise) {
      return r.finally(() => {
        acc[label] = (acc[label] ?? 0) + performance.now() - t0;
      });
    }
    acc[label] = (acc[label] ?? 0) + performance.now() - t0;
    return r;
  };
}

const rssStart = peakRss();
const eb: Backend = await createBackend(backend, nodePlatform);
const ab: Backend = await createBackend(backend, nodePlatform);
const tLoad = performance.now();
const fs = nodePlatform.fs;
const expert = new CausalLM(SHAPES['SmolLM2-360M'], eb, await loadWeights(fs, expertDir, SHAPES['SmolLM2-360M'], eb), expertDir);
const amateur = new CausalLM(SHAPES['SmolLM2-135M'], ab, await loadWeights(fs, amateurDir, SHAPES['SmolLM2-135M'], ab), amateurDir);
const loadSeconds = (performance.now() - tLoad) / 1000;
const rssLoaded = peakRss();

// KV caches: the largest cache each model creates (one per model per batch; batches run in turn).
const kvOf = new Map<CausalLM, number>();
for (const m of [expert, amateur]) {
  const create = m.createCache.bind(m);
  m.createCache = (slots: number, maxT: number) => {
    const c = create(slots, maxT);
    kvOf.set(m, Math.max(kvOf.get(m) ?? 0, kvBytes(c)));
    return c;
  };
}

// Where the loop's time goes: a forward with more token rows than logit rows is a prefill.
const acc: Record<string, number> = {};
for (const [m, who] of [
  [expert, 'expert'],
  [amateur, 'amateur'],
] as const) {
  const fwd = m.forward.bind(m);
  m.forward = (input: ForwardInput, cache: KVCache): Tensor => {
    const t0 = performance.now();
    const r = fwd(input, cache);
    const key = `${who} ${input.tokens.length > input.logitRows.length ? 'prefill' : 'decode'}`;
    acc[key] = (acc[key] ?? 0) + performance.now() - t0;
    return r;
  };
}
timed(eb, 'contrast', acc, 'contrast');
timed(eb, 'argmax', acc, 'argmax');
timed(eb, 'read', acc, 'readbacks');
timed(ab, 'read', acc, 'readbacks');
timed(eb, 'write', acc, 'writes');

const prompts = Array.from({ length: problems }, (_, p) => Array.from(randomValues(promptLen, 1000 + p, 0.5), (x) => Math.floor((x + 0.5) * 49152) % 49152));
const ctl = new AbortController();
let tokens = 0,
  amateurTokens = 0,
  selected = 0,
  steps = 0,
  decodeSteps = 0;
const t0 = performance.now();
let aborted = false;
try {
  for await (const e of contrastPrompts(
    expert,
    amateur,
    prompts,
    { alpha: 0.2, beta: 0.4, maxNewTokens: newTokens, batchSize: 8, eosTokenIds: [] },
    { signal: ctl.signal },
  )) {
    if (e.status === 'step' && stopAfter > 0 && ++decodeSteps >= stopAfter) ctl.abort();
    if (e.status !== 'problem') continue;
    tokens += e.result.trajectory.length;
    amateurTokens += e.result.amateurTokens;
    steps += e.result.steps.length;
    selected += e.result.steps.filter((s) => s.selected).length;
  }
} catch (e) {
  if (!ctl.signal.aborted) throw e;
  aborted = true;
}
const seconds = (performance.now() - t0) / 1000;
const weightBytes = expert.weights.bytes + amateur.weights.bytes;
const kv = [...kvOf.values()].reduce((a, b) => a + b, 0);
const out = {
  seconds,
  loadSeconds,
  problems,
  promptLen,
  newTokens,
  tokens,
  amateurTokens,
  selected,
  steps,
  aborted,
  breakdown: Object.fromEntries(Object.entries(acc).map(([k, v]) => [k, +(v / 1000).toFixed(3)])),
  peakRss: peakRss(),
  rssStart,
  rssLoaded,
  weightBytes,
  kvBytes: kv,
  threads: eb.info.device,
};
eb.destroy();
ab.destroy();
console.log(JSON.stringify(out));
