// What the CPU bench (bench/main.ts) and the GPU bench (bench/gpu.ts) share: one result format
// and printer, the PyTorch baseline runner (child processes, so a missing torch only costs a ratio),
// the random BF16 checkpoints of the stage-1 workload and the stage-1 child process.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeSafetensors, type TensorToWrite } from '../runtime/io/safetensors.ts';
import type { ModelConfig } from '../runtime/model/config.ts';
import { randomValues } from '../tooling/random-model.ts';
import { encodeFromF32 } from '../runtime/util/dtype.ts';

export const here = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/
export const root = [join(here, '..', '..'), process.cwd()].find((d) => existsSync(join(d, 'bench', 'torch_matmul.py'))) ?? process.cwd();

export interface Result {
  name: string;
  value: number;
  unit: string;
  backend?: string;
  baseline?: number;
  baseline_unit?: string;
  baseline_name?: string;
  /** ours over theirs, oriented so that larger is better */
  ratio?: number;
  target?: string;
  met?: boolean;
  load1?: number;
  /** the limit this figure is bounded by on this host, measured in the same run (issue 18) */
  ceiling?: number;
  ceiling_unit?: string;
  ceiling_name?: string;
  /** value / ceiling */
  share?: number;
  share_target?: string;
  note?: string;
}

/** Sets a result's ceiling fields (share = value / ceiling) and, when given, the share's target. */
export function withCeiling(r: Result, ceiling: number, unit: string, name: string, target?: number): Result {
  Object.assign(r, { ceiling, ceiling_unit: unit, ceiling_name: name, share: r.value / ceiling });
  if (target !== undefined) Object.assign(r, { share_target: `≥ ${Math.round(target * 100)} %` });
  return r;
}

export const load1 = () => +loadavg()[0].toFixed(2);

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Prints results as aligned lines, or (json) one object per line on stdout with notices on stderr. */
export class Reporter {
  constructor(readonly json: boolean) {}

  report(r: Result): void {
    r.load1 ??= load1();
    if (this.json) {
      console.log(JSON.stringify(r));
      return;
    }
    const v = Math.abs(r.value) >= 100 ? r.value.toFixed(1) : r.value.toFixed(r.unit === '×' ? 2 : 3);
    let line = `${r.name.padEnd(62)} ${v.padStart(9)} ${r.unit}`;
    if (r.ratio !== undefined) {
      line += `   ratio ${r.ratio.toFixed(2)}× vs ${r.baseline_name} (${r.baseline!.toFixed(r.baseline! >= 100 ? 1 : 3)} ${r.baseline_unit})`;
      if (r.target) line += `   target ${r.target}: ${r.met ? 'MET' : 'not met'}`;
    }
    if (r.share !== undefined) {
      line += `   ${(r.share * 100).toFixed(0)} % of ${r.ceiling_name} (${r.ceiling!.toFixed(1)} ${r.ceiling_unit})`;
      if (r.share_target) line += ` target ${r.share_target}: ${r.share >= parseFloat(r.share_target.slice(2)) / 100 ? 'MET' : 'not met'}`;
    }
    line += `   [load ${r.load1}]`;
    console.log(line);
    if (r.note) console.log(`    ${r.note}`);
  }

  notice(msg: string): void {
    if (this.json)
      console.error(`# ${msg}`); // stdout keeps only figure objects
    else console.log(`# ${msg}`);
  }
}

export interface Python {
  py: string;
  mods: Record<string, boolean>;
}

/** The first interpreter with torch: $LR_BENCH_PYTHON, .venv-ref/bin/python, python3; null if none. */
export function findPython(): Python | null {
  const candidates = [process.env.LR_BENCH_PYTHON, join(root, '.venv-ref', 'bin', 'python'), 'python3'].filter((p): p is string => !!p);
  for (const py of candidates) {
    const r = spawnSync(
      py,
      ['-c', 'import json, importlib.util as u; print(json.dumps({m: u.find_spec(m) is not None for m in ("torch", "transformers", "peft")}))'],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) continue;
    try {
      const mods = JSON.parse(r.stdout.trim()) as Record<string, boolean>;
      if (mods.torch) return { py, mods };
    } catch {
      /* try the next */
    }
  }
  return null;
}

/**
 * Runs a baseline script; returns its JSON lines, or null (with a notice) when it cannot run.
 * `reference_*` scripts are the shared reference scripts (beside the checkout, or
 * $LR_REFERENCE_DIR); every other script is one of ours in bench/.
 */
export function runPython(
  python: Python | null,
  rep: Reporter,
  script: string,
  scriptArgs: string[],
  needs: string[],
  threads: number,
): Record<string, unknown>[] | null {
  if (!python) {
    rep.notice(`no Python with torch found (.venv-ref/bin/python, $LR_BENCH_PYTHON, python3): ${script} skipped, no ratio`);
    return null;
  }
  const missing = needs.filter((m) => !python.mods[m]);
  if (missing.length) {
    rep.notice(`${python.py} lacks ${missing.join(', ')}: ${script} skipped, no ratio`);
    return null;
  }
  const refDir = process.env.LR_REFERENCE_DIR ?? join(root, '..', 'shared', 'bench');
  const path = script.startsWith('reference_') ? join(refDir, script) : join(root, 'bench', script);
  if (!existsSync(path)) {
    rep.notice(`${path} not found (set LR_REFERENCE_DIR to the folder holding the reference scripts): skipped, no ratio`);
    return null;
  }
  const r = spawnSync(python.py, [path, ...scriptArgs], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, OMP_NUM_THREADS: String(threads), LR_REFERENCE_DIR: refDir },
  });
  if (r.status !== 0) {
    rep.notice(`${script} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    return null;
  }
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A random BF16 checkpoint with Hugging Face tensor names, written as dir/model.safetensors. */
export function writeCheckpoint(dir: string, c: ModelConfig, seed: number): void {
  mkdirSync(dir, { recursive: true });
  const { hiddenSize: H, heads, kvHeads, headDim: D, intermediateSize: I, vocabSize: V } = c;
  const tensors: TensorToWrite[] = [];
  let k = seed;
  const w = (name: string, shape: number[], ones = false) => {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors.push({ name, dtype: 'BF16', shape, data: encodeFromF32('bf16', ones ? new Float32Array(n).fill(1) : randomValues(n, k++ * 2654435761, 0.05)) });
  };
  w('model.embed_tokens.weight', [V, H]);
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    w(`${p}input_layernorm.weight`, [H], true);
    w(`${p}self_attn.q_proj.weight`, [heads * D, H]);
    w(`${p}self_attn.k_proj.weight`, [kvHeads * D, H]);
    w(`${p}self_attn.v_proj.weight`, [kvHeads * D, H]);
    w(`${p}self_attn.o_proj.weight`, [H, heads * D]);
    w(`${p}post_attention_layernorm.weight`, [H], true);
    w(`${p}mlp.gate_proj.weight`, [I, H]);
    w(`${p}mlp.up_proj.weight`, [I, H]);
    w(`${p}mlp.down_proj.weight`, [H, I]);
  }
  w('model.norm.weight', [H], true);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
}

export interface Stage1 {
  seconds: number;
  loadSeconds: number;
  problems: number;
  promptLen: number;
  newTokens: number;
  tokens: number;
  amateurTokens: number;
  selected: number;
  steps: number;
  aborted: boolean;
  breakdown: Record<string, number>;
  peakRss: number;
  rssStart: number;
  rssLoaded: number;
  weightBytes: number;
  kvBytes: number;
  threads: string;
}

/** Stage 1 on the issue-6 workload in a child process (bench/stage1.ts), on `backend`. */
export function runStage1(
  dirs: [string, string],
  problems: number,
  promptLen: number,
  newTokens: number,
  stopAfter: number,
  backend: 'wasm' | 'webgpu' = 'wasm',
): Stage1 {
  const r = spawnSync(
    process.execPath,
    [join(here, 'stage1.js'), ...dirs, String(problems), String(promptLen), String(newTokens), String(stopAfter), backend],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`bench/stage1 failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Stage1;
}
