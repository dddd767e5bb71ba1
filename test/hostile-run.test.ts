// Hostile and careless input to the runs (finetune, sample, merge, eval): every refusal exits 2 (the
// user's arguments or data) or 1 (the model files or the machine) with one "error:" line naming the
// file, field or step and what to do — never a stack trace, a NaN written to disk, or a clobbered
// file: each case compares the directory it ran in before and after. A bug, and only a bug, shows a
// stack under the "internal error" marker.
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { epochOrder, parseSamples } from '../runtime/train/data.ts';
import { DEFAULT_FINETUNE } from '../runtime/train/finetune.ts';
import { type CliResult, FIXTURES, ROOT, runCli, TEST_CLI } from './helpers/cli.ts';
import { editJson, setValue, setValues, writeText } from './helpers/model-dir.ts';
import { failingFs, limiter, snapshot } from './helpers/run-dir.ts';

const PAIR = join(FIXTURES, 'sampling', 'models', 'llama-pair');
const EXPERT = join(PAIR, 'expert'),
  AMATEUR = join(PAIR, 'amateur');
const SAMPLES = join(FIXTURES, 'sampling', 'expected', 'llama-pair.samples.jsonl');
const QUESTIONS = join(FIXTURES, 'sampling', 'questions.jsonl');
const ADAPTER = join(FIXTURES, 'finetune', 'llama-pair', 'ours-adapter'); // r 4, nonzero A and B
const UNTIED = join(FIXTURES, 'models', 'llama-untied-bf16-llama3rope'); // the pair's tokenizer, own lm_head
const tmp = mkdtempSync(join(tmpdir(), 'lr-hostile-run-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const run = limiter(2);
const mkfifo = (path: string) => execFileSync('mkfifo', [path]);

const ftArgs = (model: string, samples: string, out: string, extra: string[] = []) => [
  'finetune',
  '--model',
  model,
  '--samples',
  samples,
  '--out',
  out,
  '--max-steps',
  '4',
  '--save-steps',
  '2',
  '--batch-size',
  '2',
  '--grad-accum',
  '1',
  '--backend',
  'wasm',
  '--quiet',
  ...extra,
];
const sampleArgs = (expert: string, amateur: string, data: string, out: string, extra: string[] = []) => [
  'sample',
  '--expert',
  expert,
  '--amateur',
  amateur,
  '--data',
  data,
  '--out',
  out,
  '--batch-size',
  '2',
  '--max-new-tokens',
  '8',
  '--backend',
  'reference',
  '--quiet',
  ...extra,
];
const mergeArgs = (model: string, adapter: string, out: string) => ['merge', '--model', model, '--adapter', adapter, '--out', out, '--quiet'];

const once = <T>(make: () => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
};
async function ok(args: string[]): Promise<CliResult> {
  const r = await run(() => runCli(args));
  if (r.code !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

// What a crash during step 3 of a 4-step run (checkpoints every 2) leaves: checkpoint-2, three log
// lines, no final adapter or summary. The full run's log is kept to compare a resume with.
const LOG = 'train_log.jsonl';
const interrupted = once(async () => {
  const out = join(tmp, 'template-ft');
  await ok(ftArgs(EXPERT, SAMPLES, out));
  const full = readFileSync(join(out, LOG), 'utf8');
  for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'train_summary.json', 'checkpoint-4']) rmSync(join(out, f), { recursive: true });
  writeFileSync(join(out, 'latest_checkpoint'), 'checkpoint-2\n');
  writeFileSync(
    join(out, LOG),
    full
      .split('\n')
      .slice(0, 3)
      .map((l) => `${l}\n`)
      .join(''),
  );
  return { out, full };
});
/** A copy of the interrupted run in `dir`; returns its --out. */
async function interruptedCopy(dir: string): Promise<string> {
  const out = join(dir, 'out');
  cpSync((await interrupted()).out, out, { recursive: true });
  return out;
}
const ckpt = (out: string, file: string) => join(out, 'checkpoint-2', file);
const resumeArgs = (out: string) => ftArgs(EXPERT, SAMPLES, out, ['--resume']);

// A finished sampling run of the pair on the four fixture questions (its state file is what a
// --resume reads first).
const sampled = once(async () => {
  const dir = join(tmp, 'template-sample');
  mkdirSync(dir);
  await ok(sampleArgs(EXPERT, AMATEUR, QUESTIONS, join(dir, 'samples.jsonl')));
  return dir;
});
async function sampledCopy(dir: string): Promise<string> {
  cpSync(await sampled(), join(dir, 's'), { recursive: true });
  return join(dir, 's', 'samples.jsonl');
}
const resumeSample = (out: string) => sampleArgs(EXPERT, AMATEUR, QUESTIONS, out, ['--resume']);

/** A copy of a fixture model directory in `dir` with `value` written into one weight. */
function brokenModel(dir: string, from: string, file: string, tensor: string, value: number, index = 0): string {
  const name = `${from.split('/').slice(-2).join('-')}-${tensor}`;
  const copy = join(dir, name);
  cpSync(from, copy, { recursive: true });
  setValue(join(copy, file), tensor, index, value);
  return copy;
}
const NORM = 'model.norm.weight';
function adapterCopy(dir: string, edit?: (c: any) => void): string {
  const copy = join(dir, 'adapter');
  cpSync(ADAPTER, copy, { recursive: true });
  if (edit) editJson(join(copy, 'adapter_config.json'), edit);
  return copy;
}
const qProj = (l: number, ab: 'A' | 'B') => `base_model.model.model.layers.${l}.self_attn.q_proj.lora_${ab}.weight`;

interface Case {
  name: string;
  /** Build the inputs in `dir` (a fresh folder); returns the CLI's arguments. */
  setup(dir: string): Promise<string[]> | string[];
  code: 1 | 2;
  /** What stderr says: the file, field or step, and what to do. */
  message: RegExp;
  env?: NodeJS.ProcessEnv;
  /** For a refusal after some work was kept: checks the changes instead of "nothing changed". */
  changes?: (t: Test, before: Record<string, string>, after: Record<string, string>, dir: string, r: CliResult) => void;
}

// ---- the machine refuses (simulated: a test running as root cannot be denied for real) ----------
const WRITES = 'writeFile,mkdir,open';
const fsCases: Case[] = [
  {
    name: 'finetune --out not writable (EACCES)',
    setup: (d) => ftArgs(EXPERT, SAMPLES, join(d, 'locked-out')),
    env: failingFs(tmp, 'EACCES', '/locked-out'),
    code: 1,
    message: /^error: \S+\/locked-out: permission denied \(EACCES\) — fix its permissions .*or choose another path/,
  },
  {
    name: 'finetune --out on a read-only disk (EROFS)',
    setup: (d) => ftArgs(EXPERT, SAMPLES, join(d, 'ro-disk')),
    env: failingFs(tmp, 'EROFS', '/ro-disk', WRITES),
    code: 1,
    message: /\/ro-disk: read-only file system \(EROFS\) — choose a path on a writable file system/,
  },
  {
    name: 'sample --out on a full disk (ENOSPC)',
    setup: (d) => sampleArgs(EXPERT, AMATEUR, QUESTIONS, join(d, 'full-disk.jsonl')),
    env: failingFs(tmp, 'ENOSPC', '/full-disk.jsonl', WRITES),
    code: 1,
    message: /\/full-disk\.jsonl: no space left on the device \(ENOSPC\) — free some space/,
  },
  {
    name: 'merge --out not permitted (EPERM)',
    setup: (d) => mergeArgs(EXPERT, ADAPTER, join(d, 'merged-out')),
    env: failingFs(tmp, 'EPERM', '/merged-out', WRITES),
    code: 1,
    message: /\/merged-out\.tmp-\w+: operation not permitted \(EPERM\) — fix its permissions/,
  },
  {
    name: 'finetune --samples: too many open files (EMFILE)',
    setup: (d) => (writeText(join(d, 'emfile.jsonl'), readFileSync(SAMPLES, 'utf8')), ftArgs(EXPERT, join(d, 'emfile.jsonl'), join(d, 'out'))),
    env: failingFs(tmp, 'EMFILE', '/emfile.jsonl', 'readFile,open'),
    code: 1,
    message: /emfile\.jsonl: too many open files \(EMFILE\) — raise the limit \(ulimit -n\)/,
  },
];

// ---- paths of the wrong kind (real) ------------------------------------------------------------
const file = (d: string) => (writeText(join(d, 'a-file'), 'x'), join(d, 'a-file'));
const pathCases: Case[] = [
  {
    name: 'finetune --out is a file',
    setup: (d) => ftArgs(EXPERT, SAMPLES, file(d)),
    code: 2,
    message: /--out \S+a-file: exists and is a file, not a directory; choose another --out/,
  },
  {
    name: 'finetune --samples is a directory (EISDIR)',
    setup: (d) => (mkdirSync(join(d, 'dir.jsonl')), ftArgs(EXPERT, join(d, 'dir.jsonl'), join(d, 'out'))),
    code: 2,
    message: /dir\.jsonl: is a directory, not a file \(EISDIR\) — give the path of a file/,
  },
  {
    name: 'finetune --samples is a symbolic link loop (ELOOP)',
    setup: (d) => (
      symlinkSync(join(d, 'b.jsonl'), join(d, 'a.jsonl')),
      symlinkSync(join(d, 'a.jsonl'), join(d, 'b.jsonl')),
      ftArgs(EXPERT, join(d, 'a.jsonl'), join(d, 'out'))
    ),
    code: 2,
    message: /a\.jsonl: too many levels of symbolic links \(ELOOP\) — fix the symbolic link loop/,
  },
  {
    name: 'sample --out inside a file (ENOTDIR)',
    setup: (d) => sampleArgs(EXPERT, AMATEUR, QUESTIONS, join(file(d), 'o.jsonl')),
    code: 2,
    message: /a-file\/o\.jsonl: a part of the path is a file, not a directory \(ENOTDIR\)/,
  },
  {
    name: 'merge --out inside a file (ENOTDIR)',
    setup: (d) => mergeArgs(EXPERT, ADAPTER, join(file(d), 'm')),
    code: 2,
    message: /a-file\/m\.tmp-\w+: a part of the path is a file, not a directory \(ENOTDIR\)/,
  },
];

// ---- JSON that is valid but not the object it should be ---------------------------------------
const nullLine = (d: string, from: string, name: string) => {
  const lines = readFileSync(from, 'utf8').trim().split('\n');
  writeText(join(d, name), [lines[0], 'null', ...lines.slice(1)].join('\n') + '\n');
  return join(d, name);
};
const jsonCases: Case[] = [
  {
    name: 'merge: adapter_config.json is null',
    setup: (d) => (writeText(join(adapterCopy(d), 'adapter_config.json'), 'null'), mergeArgs(EXPERT, join(d, 'adapter'), join(d, 'm'))),
    code: 1,
    message: /adapter_config\.json: not a JSON object/,
  },
  // Before: 1e999 parsed to Infinity and was refused only as "must be an array of numbers".
  {
    name: 'finetune: a samples weight 1e999 (Infinity once parsed)',
    setup: (d) => {
      const lines = readFileSync(SAMPLES, 'utf8').trim().split('\n');
      lines[1] = lines[1].replace(/"weights": \[[^,\]]+, /, '"weights": [0, -1e999, ');
      writeText(join(d, 's.jsonl'), lines.join('\n') + '\n');
      return ftArgs(EXPERT, join(d, 's.jsonl'), join(d, 'out'));
    },
    code: 2,
    message:
      /^error: \S+s\.jsonl:2: "weights" holds -Infinity at index 1 \(a number too large for a float, such as 1e999, reads as Infinity\) — .*regenerate the samples/,
  },
  {
    name: 'finetune: a samples line is null',
    setup: (d) => ftArgs(EXPERT, nullLine(d, SAMPLES, 's.jsonl'), join(d, 'out')),
    code: 2,
    message: /s\.jsonl:2: not a JSON object/,
  },
  {
    name: 'finetune --resume: trainer_state.json is null',
    setup: async (d) => {
      const out = await interruptedCopy(d);
      writeText(ckpt(out, 'trainer_state.json'), 'null');
      return resumeArgs(out);
    },
    code: 2,
    message: /checkpoint-2\/trainer_state\.json: must hold a JSON object, got null — .*use a new --out/,
  },
  {
    name: 'sample --resume: the state file is null',
    setup: async (d) => {
      const out = await sampledCopy(d);
      writeText(`${out}.state.json`, 'null');
      return resumeSample(out);
    },
    code: 2,
    message: /samples\.jsonl\.state\.json: must hold a JSON object, got null; .*remove \S+samples\.jsonl and \S+state\.json to start over/,
  },
  {
    name: 'sample: a problems line is null',
    setup: (d) => sampleArgs(EXPERT, AMATEUR, nullLine(d, QUESTIONS, 'q.jsonl'), join(d, 'o.jsonl')),
    code: 2,
    message: /q\.jsonl:2: not a JSON object/,
  },
  {
    name: 'eval --paired-with: a line is null',
    setup: (d) => (
      writeText(join(d, 'base.jsonl'), 'null\n'),
      [
        'eval',
        '--model',
        EXPERT,
        '--data',
        QUESTIONS,
        '--max-questions',
        '1',
        '--max-new-tokens',
        '2',
        '--backend',
        'reference',
        '--quiet',
        '--paired-with',
        join(d, 'base.jsonl'),
      ]
    ),
    code: 2,
    message: /--paired-with \S+base\.jsonl:1: no "id" and "correct"/,
  },
  {
    name: "sample: the expert's model.safetensors.index.json is null",
    setup: (d) => (
      cpSync(UNTIED, join(d, 'x'), { recursive: true }),
      writeText(join(d, 'x', 'model.safetensors.index.json'), 'null'),
      sampleArgs(join(d, 'x'), AMATEUR, QUESTIONS, join(d, 'o.jsonl'))
    ),
    code: 1,
    message: /model\.safetensors\.index\.json: must hold a JSON object with a "weight_map", got null/,
  },
];

// ---- adapter_config.json values ----------------------------------------------------------------
const adapterValue = (name: string, edit: (c: any) => void, message: RegExp, code: 1 | 2 = 1): Case => ({
  name: `merge: adapter_config.json ${name}`,
  setup: (d) => mergeArgs(EXPERT, adapterCopy(d, edit), join(d, 'm')),
  code,
  message,
});
const adapterCases: Case[] = [
  adapterValue('lora_alpha 0', (c) => void (c.lora_alpha = 0), /"lora_alpha" must be a finite positive number \(got 0\)/),
  adapterValue('r 0', (c) => void (c.r = 0), /"r" must be a positive integer ≤ 4096 \(got 0\)/),
  adapterValue('r 1e9', (c) => void (c.r = 1e9), /"r" must be a positive integer ≤ 4096 \(got 1000000000\)/),
  adapterValue('r 65 (> hidden size 64)', (c) => void (c.r = 65), /adapter_config\.json: "r" is 65 but this model's hidden size is 64; r must be ≤ 64/, 2),
  {
    name: 'generate --adapter: lora_alpha 1e308 (scaling overflows f32)',
    setup: (d) => ['generate', '--model', EXPERT, '--adapter', adapterCopy(d, (c) => void (c.lora_alpha = 1e308)), '--prompt', 'hi', '--backend', 'reference'],
    code: 2,
    message: /adapter_config\.json: the adapter's scaling \(lora_alpha 1e\+308 \/ r 4 = 2\.5e\+307\) overflows 32-bit floats: lower "lora_alpha"/,
  },
];

// ---- NaN and Inf ---------------------------------------------------------------------------------
const ST = 'model.safetensors';
/**
 * A samples file whose line `k` (the one step 3 trains on) holds a token that turns the forward pass
 * NaN with finite weights (non-finite ones are refused at load): its embedding is the unit vector of
 * dimension 0, which every other embedding has 0 in, and layer 0's q and k read dimension 0 with
 * weight 1e30, so that token's attention score to itself overflows to Inf (Inf − Inf is NaN in the
 * softmax) while every other token's q and k get exactly 0 from it.
 */
async function nanAtStep3(d: string): Promise<{ model: string; samples: string; line: number }> {
  const model = join(d, 'untied');
  cpSync(UNTIED, model, { recursive: true });
  const text = readFileSync(SAMPLES, 'utf8');
  const lm = await loadModel(model, { fs: nodePlatform.fs, backend: new ReferenceBackend() });
  const { samples } = parseSamples(text, lm.tokenizer, { vocab: lm.config.vocabSize, system: DEFAULT_FINETUNE.system });
  const used = new Set(samples.flatMap((s) => s.ids));
  const token = [...Array(lm.config.vocabSize).keys()].reverse().find((id) => !used.has(id))!;
  const j = epochOrder(samples.length, DEFAULT_FINETUNE.seed, 0, true)[2]; // --batch-size 1: step 3's sample
  const lines = text.trim().split('\n');
  lines[j] = JSON.stringify({ ...JSON.parse(lines[j]), prefix_token_ids: [...JSON.parse(lines[j]).prefix_token_ids, token] });
  writeText(join(d, 's.jsonl'), lines.join('\n') + '\n');
  const map = JSON.parse(readFileSync(join(model, 'model.safetensors.index.json'), 'utf8')).weight_map;
  const H = lm.config.hiddenSize;
  const embed = Array.from({ length: lm.config.vocabSize }, (_, id) => [id * H, id === token ? 1 : 0] as const);
  setValues(join(model, map['model.embed_tokens.weight']), 'model.embed_tokens.weight', [
    ...embed,
    ...Array.from({ length: H - 1 }, (_, i) => [token * H + i + 1, 0] as const),
  ]);
  for (const w of ['q_proj', 'k_proj']) setValue(join(model, map[`model.layers.0.self_attn.${w}.weight`]), `model.layers.0.self_attn.${w}.weight`, 0, 1e30);
  return { model, samples: join(d, 's.jsonl'), line: j + 1 };
}
/** A copy of a fixture model whose outputs are NaN with finite weights: layer 0's q and k read the whole first row ×1e30, so every attention score overflows. */
function overflowing(dir: string, from: string): string {
  const copy = join(dir, `${from.split('/').slice(-2).join('-')}-overflowing`);
  cpSync(from, copy, { recursive: true });
  for (const w of ['q_proj', 'k_proj'])
    setValues(
      join(copy, ST),
      `model.layers.0.self_attn.${w}.weight`,
      Array.from({ length: 64 }, (_, i) => [i, 1e30] as const),
    );
  return copy;
}
let step3Line = 0;
const nanCases: Case[] = [
  // Before: a NaN weight loaded, and the run stopped only at its first step (or generated garbage).
  {
    name: 'finetune: a NaN weight is refused at load',
    setup: (d) => ftArgs(brokenModel(d, EXPERT, ST, NORM, NaN), SAMPLES, join(d, 'out')),
    code: 1,
    message: /^error: \S+model\.safetensors: tensor "model\.norm\.weight" holds NaN at element 0: the checkpoint has non-finite weights .*re-download it/,
  },
  {
    name: 'sample: an Inf weight in the amateur is refused at load',
    setup: (d) => sampleArgs(EXPERT, brokenModel(d, AMATEUR, ST, 'model.layers.1.mlp.up_proj.weight', -Infinity, 130), QUESTIONS, join(d, 'o.jsonl')),
    code: 1,
    message:
      /^error: \S+amateur-model\.layers\.1\.mlp\.up_proj\.weight\/model\.safetensors: tensor "model\.layers\.1\.mlp\.up_proj\.weight" holds -Infinity at element 130 \[2, 2\]/,
  },
  {
    name: 'finetune: finite weights that overflow stop step 1',
    setup: (d) => ftArgs(overflowing(d, EXPERT), SAMPLES, join(d, 'out')),
    code: 2,
    message: /^error: step 1: the loss is NaN \(samples on lines [\d, …]+\) — the model's weights, the adapter or the samples hold non-finite values/,
  },
  {
    name: 'finetune: overflowing weights, --out holds an earlier run (--overwrite): left as it was',
    setup: async (d) => [...ftArgs(overflowing(d, EXPERT), SAMPLES, await interruptedCopy(d)), '--overwrite'],
    code: 2,
    message: /step 1: the loss is NaN/,
  },
  {
    name: 'finetune: --out holds an earlier run, no --resume or --overwrite: refused',
    setup: async (d) => ftArgs(EXPERT, SAMPLES, await interruptedCopy(d)),
    code: 2,
    message: /^error: --out .* is not empty \(.*\): pass --resume .* --overwrite/,
  },
  {
    name: 'finetune: NaN reached at step 3, after checkpoint-2: stops there, nothing NaN written',
    setup: async (d) => {
      const s = await nanAtStep3(d);
      step3Line = s.line;
      return ftArgs(s.model, s.samples, join(d, 'out'), ['--batch-size', '1']);
    },
    code: 2,
    message: /^error: step 3: the loss is NaN \(samples on line \d+\)/,
    changes: (t, before, after, d, r) => {
      t.match(r.stderr, `(samples on line ${step3Line})`, 'names the line of the sample step 3 trained on');
      t.equal(Object.keys(before).filter((k) => k.startsWith('out')).length, 0, 'no --out before');
      const made = Object.keys(after)
        .filter((k) => !(k in before))
        .sort();
      t.same(
        made,
        [
          'out',
          'out/checkpoint-2',
          'out/checkpoint-2/adapter_config.json',
          'out/checkpoint-2/adapter_model.safetensors',
          'out/checkpoint-2/optimizer.safetensors',
          'out/checkpoint-2/trainer_state.json',
          'out/latest_checkpoint',
          `out/${LOG}`,
        ],
        'steps 1–2 and their checkpoint only: no adapter, no summary',
      );
      const log = readFileSync(join(d, 'out', LOG), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      t.same(
        log.map((l) => l.step),
        [1, 2],
        'the log stops before step 3',
      );
      t.ok(
        log.every((l) => Number.isFinite(l.loss) && Number.isFinite(l.grad_norm)),
        'every logged number is finite',
      );
      for (const [k, v] of Object.entries(before)) t.equal(after[k], v, `${k} unchanged`);
    },
  },
  {
    name: 'finetune --lora-alpha 1e38: the gradient norm overflows at step 1',
    setup: (d) => ftArgs(EXPERT, SAMPLES, join(d, 'out'), ['--lora-alpha', '1e38']),
    code: 2,
    message: /^error: step 1: the gradient norm is Infinity .*lower --lr or --lora-alpha/,
  },
  {
    name: 'finetune --lora-alpha 1e308: refused before training',
    setup: (d) => ftArgs(EXPERT, SAMPLES, join(d, 'out'), ['--lora-alpha', '1e308']),
    code: 2,
    message: /lora alpha 1e\+308 \/ r 8 overflows 32-bit floats: lower the alpha/,
  },
  {
    name: 'finetune --lora-r 1000000000: bounded by the hidden size',
    setup: (d) => ftArgs(EXPERT, SAMPLES, join(d, 'out'), ['--lora-r', '1000000000']),
    code: 2,
    message: /lora r must be ≤ the model's hidden size 64 \(got 1000000000\)/,
  },
  {
    name: "sample: the expert's logits are NaN (step 0)",
    setup: (d) => sampleArgs(overflowing(d, EXPERT), AMATEUR, QUESTIONS, join(d, 'o.jsonl')),
    code: 2,
    message: /^error: problem "0", step 0: the expert's logits hold NaN \(token id \d+\) — the expert model \(\S+\) has non-finite weights/,
  },
  {
    name: "sample: the amateur's logits are not finite (step 1)",
    setup: (d) => sampleArgs(EXPERT, overflowing(d, AMATEUR), QUESTIONS, join(d, 'o.jsonl')),
    code: 2,
    message: /^error: problem "0", step 1: the amateur's logits hold (NaN|-?Infinity) .*nothing of this batch was written/,
  },
  {
    name: 'merge: the base weight holds Inf',
    setup: (d) => mergeArgs(brokenModel(d, EXPERT, ST, 'model.layers.1.self_attn.q_proj.weight', Infinity, 70), ADAPTER, join(d, 'm')),
    code: 1,
    message:
      /model\.safetensors: tensor "model\.layers\.1\.self_attn\.q_proj\.weight" holds Infinity \(element 70\): the base checkpoint has non-finite weights/,
  },
  {
    name: 'merge: lora_alpha 1e308 makes a merged weight infinite',
    setup: (d) =>
      mergeArgs(
        EXPERT,
        adapterCopy(d, (c) => void (c.lora_alpha = 1e308)),
        join(d, 'm'),
      ),
    code: 2,
    message:
      /into tensor "model\.layers\.0\.\S+\.weight" gives -?(Infinity|NaN) at \[\d+, \d+\] \(F32\): the adapter's scaling \(lora_alpha 1e\+308 \/ r 4 = 2\.5e\+307\).*Nothing was written to \S+\/m$/m,
  },
  {
    name: "merge: the adapter's lora_B holds NaN",
    setup: (d) => {
      const a = adapterCopy(d);
      setValue(join(a, 'adapter_model.safetensors'), qProj(1, 'B'), 3, NaN);
      return mergeArgs(EXPERT, a, join(d, 'm'));
    },
    code: 1,
    message: /adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.1\.self_attn\.q_proj\.lora_B\.weight" holds NaN \(element 3\)/,
  },
  {
    name: 'finetune --resume: exp_avg holds NaN',
    setup: async (d) => {
      const out = await interruptedCopy(d);
      setValue(ckpt(out, 'optimizer.safetensors'), `${qProj(0, 'A')}.exp_avg`, 5, NaN);
      return resumeArgs(out);
    },
    code: 2,
    message:
      /checkpoint-2\/optimizer\.safetensors: tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight\.exp_avg" holds NaN \(element 5\) — the optimizer state is damaged; resume from an earlier checkpoint/,
  },
  {
    name: 'finetune --resume: exp_avg_sq holds -1',
    setup: async (d) => {
      const out = await interruptedCopy(d);
      setValue(ckpt(out, 'optimizer.safetensors'), `${qProj(1, 'B')}.exp_avg_sq`, 0, -1);
      return resumeArgs(out);
    },
    code: 2,
    message: /lora_B\.weight\.exp_avg_sq" holds -1 \(element 0\), but a second moment is never negative/,
  },
  {
    name: "finetune --resume: the checkpoint's adapter holds Inf",
    setup: async (d) => {
      const out = await interruptedCopy(d);
      setValue(ckpt(out, 'adapter_model.safetensors'), qProj(0, 'A'), 0, Infinity);
      return resumeArgs(out);
    },
    code: 1,
    message: /checkpoint-2\/adapter_model\.safetensors: tensor "\S+q_proj\.lora_A\.weight" holds Infinity/,
  },
];

// ---- resume state: out of range, torn, pointing elsewhere ---------------------------------------
const state = (edit: (s: any) => void) => async (d: string) => {
  const out = await interruptedCopy(d);
  editJson(ckpt(out, 'trainer_state.json'), edit);
  return resumeArgs(out);
};
const rewrite = (path: (out: string) => string, body: (text: string) => string) => async (d: string) => {
  const out = await interruptedCopy(d);
  writeText(path(out), body(readFileSync(path(out), 'utf8')));
  return resumeArgs(out);
};
const samplingState = (body: (text: string) => string) => async (d: string) => {
  const out = await sampledCopy(d);
  writeText(`${out}.state.json`, body(readFileSync(`${out}.state.json`, 'utf8')));
  return resumeSample(out);
};
const TS = /checkpoint-2\/trainer_state\.json: /;
const field = (re: string) =>
  new RegExp(`${TS.source}${re} — the checkpoint is damaged or was edited; resume with the original --out contents, or use a new --out`);
const resumeCases: Case[] = [
  {
    name: 'trainer_state.json: global_step 99 > max steps 4',
    setup: state((s) => void (s.global_step = 99)),
    code: 2,
    message: field(`"global_step" must be an integer in \\[0, 4\\] \\(the settings' max steps\\), got 99`),
  },
  {
    name: 'trainer_state.json: offset "4"',
    setup: state((s) => void (s.offset = '4')),
    code: 2,
    message: field(`"offset" must be an integer in \\[0, 28\\] \\(the number of samples\\), got "4"`),
  },
  {
    name: 'trainer_state.json: offset 1000 > the samples',
    setup: state((s) => void (s.offset = 1000)),
    code: 2,
    message: field(`"offset" must be an integer in \\[0, 28\\].*got 1000`),
  },
  {
    name: 'trainer_state.json: no totals',
    setup: state((s) => void delete s.totals),
    code: 2,
    message: field(`"totals" must be an object, got nothing \\(the field is missing\\)`),
  },
  {
    name: 'trainer_state.json: cut in half',
    setup: rewrite(
      (o) => ckpt(o, 'trainer_state.json'),
      (s) => s.slice(0, s.length >> 1),
    ),
    code: 2,
    message: field('not valid JSON \\(cut short\\?\\)'),
  },
  {
    name: 'latest_checkpoint leads outside --out',
    setup: rewrite(
      (o) => join(o, 'latest_checkpoint'),
      () => '../../elsewhere\n',
    ),
    code: 2,
    message: /latest_checkpoint: holds "\.\.\/\.\.\/elsewhere", not the name of a checkpoint directory/,
  },
  {
    name: 'latest_checkpoint names a missing checkpoint',
    setup: rewrite(
      (o) => join(o, 'latest_checkpoint'),
      () => 'checkpoint-6\n',
    ),
    code: 2,
    message: /latest_checkpoint names \S+checkpoint-6, which has no trainer_state\.json; write the name of a complete checkpoint/,
  },
  {
    name: 'train_log.jsonl: a torn line in the middle',
    setup: rewrite(
      (o) => join(o, LOG),
      (s) =>
        s
          .split('\n')
          .map((l, i) => (i === 1 ? l.slice(0, 20) : l))
          .join('\n'),
    ),
    code: 2,
    message: /train_log\.jsonl:2: not a log line .*remove that line/,
  },
  {
    name: 'sample --resume: the state file is cut in half',
    setup: samplingState((s) => s.slice(0, s.length >> 1)),
    code: 2,
    message:
      /samples\.jsonl\.state\.json: not valid JSON \(cut short\?\), so it cannot say which problems of \S+ are complete; remove \S+ and \S+ to start over/,
  },
  {
    name: 'sample --resume: the state file is empty',
    setup: samplingState(() => ''),
    code: 2,
    message: /samples\.jsonl\.state\.json: empty, so it cannot say/,
  },
  {
    name: 'sample --resume: committed 9 of 4 problems',
    setup: samplingState((s) => JSON.stringify({ ...JSON.parse(s), committed: 9 })),
    code: 2,
    message: /state\.json: "committed" must be an integer in \[0, 4\], got 9/,
  },
  {
    name: 'sample --resume: a committed sample line was overwritten',
    setup: async (d) => {
      const out = await sampledCopy(d);
      const b = readFileSync(out);
      writeFileSync(out, b.fill(0x78, 0, b.indexOf(10)));
      return resumeSample(out);
    }, // same byte count
    code: 2,
    message: /samples\.jsonl:1: not a sample line with a finite "kl_divergence"/,
  },
];

// ---- resource bounds: data lines, prompts that do not fit, hostile model files, /proc -----------
const longQuestion = JSON.stringify({ id: 'long-one', question: 'apples and pears '.repeat(300), answer: '#### 1' });
/** QUESTIONS with `line` inserted as line 2. */
const withLine = (d: string, line: string, name = 'q.jsonl') => {
  const lines = readFileSync(QUESTIONS, 'utf8').trim().split('\n');
  writeText(join(d, name), [lines[0], line, ...lines.slice(1)].join('\n') + '\n');
  return join(d, name);
};
const hugeLine = JSON.stringify({ question: 'x'.repeat(3 * 2 ** 20), answer: '#### 1' });
const evalArgs = (data: string, extra: string[] = []) => [
  'eval',
  '--model',
  EXPERT,
  '--data',
  data,
  '--max-new-tokens',
  '4',
  '--backend',
  'reference',
  '--quiet',
  ...extra,
];
/** A copy of the expert with `edit` applied to one of its JSON files. */
const expertWith = (d: string, file: string, edit: (j: any) => void) => {
  cpSync(EXPERT, join(d, 'x'), { recursive: true });
  editJson(join(d, 'x', file), edit);
  return join(d, 'x');
};
const firstSample = () => JSON.parse(readFileSync(SAMPLES, 'utf8').split('\n')[0]);
const boundCases: Case[] = [
  {
    name: 'sample: a prompt longer than the context',
    setup: (d) => sampleArgs(EXPERT, AMATEUR, withLine(d, longQuestion), join(d, 'o.jsonl')),
    code: 2,
    message:
      /^error: \S+q\.jsonl:2: problem "long-one" has a \d+-token prompt: prompt \+ --max-new-tokens 8 must fit the models' context \(max_position_embeddings 256\); .*pass --skip-invalid/,
  },
  {
    name: 'sample: a 3 MiB problem line (before: 2 GB and a minute)',
    setup: (d) => sampleArgs(EXPERT, AMATEUR, withLine(d, hugeLine), join(d, 'o.jsonl')),
    code: 2,
    message: /^error: \S+q\.jsonl:2: the line has 3145\d\d\d characters, more than the 1048576 \(1 Mi\) this tool accepts/,
  },
  {
    name: "sample: the expert's chat template calls range(100000000)",
    setup: (d) =>
      sampleArgs(
        expertWith(d, 'tokenizer_config.json', (c) => void (c.chat_template = '{% for i in range(100000000) %}x{% endfor %}')),
        AMATEUR,
        QUESTIONS,
        join(d, 'o.jsonl'),
      ),
    code: 1,
    message: /x\/tokenizer_config\.json: chat_template was stopped while rendering the messages: it called range\(\) for 100000000 numbers/,
  },
  {
    name: "sample: the expert's pre_tokenizer regex backtracks catastrophically",
    setup: (d) =>
      sampleArgs(
        expertWith(
          d,
          'tokenizer.json',
          (j) =>
            void (j.pre_tokenizer = {
              type: 'Sequence',
              pretokenizers: [{ type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }, j.pre_tokenizer],
            }),
        ),
        AMATEUR,
        withLine(d, JSON.stringify({ question: `${'a'.repeat(40)}!` })),
        join(d, 'o.jsonl'),
      ),
    code: 1,
    message: /x\/tokenizer\.json: tokenizing a text of \d+ characters took more than 5 s and was stopped: a regex of the tokenizer/,
  },
  {
    name: 'eval: a prompt longer than the context',
    setup: (d) => evalArgs(withLine(d, longQuestion)),
    code: 2,
    message:
      /^error: \S+q\.jsonl:2: problem "long-one" has a \d+-token prompt: prompt \+ --max-new-tokens 4 must fit the model's context \(max_position_embeddings 256\); .*--skip-invalid to count such problems as wrong/,
  },
  {
    name: 'eval: a 3 MiB problem line',
    setup: (d) => evalArgs(withLine(d, hugeLine)),
    code: 2,
    message: /^error: \S+q\.jsonl:2: the line has 3145\d\d\d characters, more than the 1048576/,
  },
  {
    name: 'finetune: a prefix longer than max_position_embeddings (before: a RangeError stack)',
    setup: (d) => (
      writeText(join(d, 's.jsonl'), `${JSON.stringify({ ...firstSample(), prefix_token_ids: Array(300).fill(5) })}\n`),
      ftArgs(EXPERT, join(d, 's.jsonl'), join(d, 'out'))
    ),
    code: 2,
    message: /^error: \S+s\.jsonl:1: "prefix_token_ids" with the prompt gives \d+ tokens, more than the model's max_position_embeddings \(256\)/,
  },
  {
    name: 'finetune: a 2 MiB question in a samples line',
    setup: (d) => (
      writeText(join(d, 's.jsonl'), `${JSON.stringify({ ...firstSample(), question: 'q'.repeat(2 * 2 ** 20) })}\n`),
      ftArgs(EXPERT, join(d, 's.jsonl'), join(d, 'out'))
    ),
    code: 2,
    message: /^error: \S+s\.jsonl:1: "question" is too long: it has 2097152 characters, more than the 1048576/,
  },
  {
    name: 'merge --out /proc/x (before: looped forever, ignoring SIGTERM)',
    setup: () => mergeArgs(EXPERT, ADAPTER, '/proc/x'),
    code: 2,
    message: /^error: \/proc\/x\.tmp-\w+: no such file or directory \(ENOENT\)/,
  },
];

// HOSTILE_RUN_ONLY=<regex> runs the matching cases alone (each case costs a CLI process).
const only = process.env.HOSTILE_RUN_ONLY ? new RegExp(process.env.HOSTILE_RUN_ONLY) : null;
const cases = [...fsCases, ...pathCases, ...jsonCases, ...adapterCases, ...nanCases, ...resumeCases, ...boundCases].filter((c) => !only || only.test(c.name));

async function attempt(c: Case) {
  const dir = mkdtempSync(join(tmp, 'case-'));
  const args = await c.setup(dir);
  const before = snapshot(dir);
  const r = await run(() => runCli(args, { env: c.env }));
  return { dir, r, before, after: snapshot(dir) };
}
// Started together (two processes at a time); each case's assertions wait for its own run.
const pending = cases.map((c) => {
  const p = attempt(c);
  p.catch(() => {}); // reported by the case's test
  return p;
});

t.test(`${cases.length} refusals: exit code, one "error:" line, no stack, the file/field/step named, nothing changed`, async (t) => {
  for (const [i, c] of cases.entries()) {
    await t.test(c.name, async (t) => {
      const { dir, r, before, after } = await pending[i];
      t.equal(r.code, c.code, `exits ${c.code}`, { stderr: r.stderr });
      t.ok(r.stderr.startsWith('error: '), `stderr starts with "error:": ${r.stderr}`);
      t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
      t.match(r.stderr, c.message, 'names the file, field or step and what to do');
      if (c.changes) c.changes(t, before, after, dir, r);
      else t.same(after, before, 'nothing was written or changed');
    });
  }
});

// Before: `--data <(…)` was refused as "a FIFO (named pipe), not a regular file".
t.test('--data from a pipe (bash process substitution, a named FIFO) is read as a stream: the same results as the file', async (t) => {
  const d = mkdtempSync(join(tmp, 'pipe-'));
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const args = (data: string) => [...TEST_CLI, ...evalArgs(data, ['--json'])].map(q).join(' ').replace(q(data), data);
  const bash = (script: string) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = spawn('bash', ['-c', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '',
        stderr = '';
      child.stdout.on('data', (b) => (stdout += b));
      child.stderr.on('data', (b) => (stderr += b));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  const result = (r: CliResult) => {
    const { seconds, data, ...rest } = JSON.parse(r.stdout);
    return rest;
  };
  const file = await run(() => runCli(evalArgs(QUESTIONS, ['--json'])));
  t.equal(file.code, 0, 'from the file', { stderr: file.stderr });
  const substituted = await run(() => bash(`exec ${args(`<(cat ${q(QUESTIONS)})`)}`));
  t.equal(substituted.code, 0, 'from <(cat …)', { stderr: substituted.stderr });
  t.match(JSON.parse(substituted.stdout).data, /^\/dev\/fd\/\d+$/, 'the data path is the pipe');
  t.same(result(substituted), result(file), 'the same results');
  mkfifo(join(d, 'fifo'));
  const fifo = await run(() => bash(`cat ${q(QUESTIONS)} > ${q(join(d, 'fifo'))} & exec ${args(q(join(d, 'fifo')))}`));
  t.equal(fifo.code, 0, 'from a named FIFO', { stderr: fifo.stderr });
  t.same(result(fifo), result(file), 'the same results');
});

t.test('a torn last log line (what a crash leaves) is dropped with a warning; the resume continues', async (t) => {
  const d = mkdtempSync(join(tmp, 'torn-'));
  const out = await interruptedCopy(d);
  const log = readFileSync(join(out, LOG), 'utf8');
  writeText(join(out, LOG), log.slice(0, log.length - 40)); // step 3's line cut short, no newline
  const r = await run(() => runCli(resumeArgs(out).filter((a) => a !== '--quiet')));
  t.equal(r.code, 0, 'the resume succeeds', { stderr: r.stderr });
  t.match(r.stderr, /warning: \S+train_log\.jsonl:3: the last line is cut short \(the run was interrupted while writing it\); dropped/);
  const steps = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .map(({ step, loss, lr, grad_norm }) => ({ step, loss, lr, grad_norm }));
  t.same(steps(readFileSync(join(out, LOG), 'utf8')), steps((await interrupted()).full), "the log is the uninterrupted run's");
});

t.test('an unexpected error is a bug: its stack, marked as one, exit 1', async (t) => {
  const d = mkdtempSync(join(tmp, 'bug-'));
  const r = await run(() => runCli(ftArgs(EXPERT, SAMPLES, join(d, 'weird-out')), { env: failingFs(tmp, 'EWEIRD', '/weird-out') }));
  t.equal(r.code, 1);
  t.ok(r.stderr.startsWith('internal error (a bug in lightreasoner-wasm — please report it with this trace):\n'), r.stderr);
  t.match(r.stderr, /EWEIRD: simulated[^\n]*\n\s+at /, 'the stack follows');
  t.notMatch(r.stderr, /^error: /m, 'not dressed up as a user error');
});

t.test('sample --skip-invalid skips a prompt that does not fit, with a warning; killed and resumed, the same bytes', async (t) => {
  const d = mkdtempSync(join(tmp, 'skip-'));
  const base = readFileSync(QUESTIONS, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).question as string);
  const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `p${i}`, question: `${base[i % 4]} (${i})` }));
  lines.splice(4, 0, longQuestion); // line 5
  const data = join(d, 'q.jsonl');
  writeText(data, lines.join('\n') + '\n');
  const args = (out: string, extra: string[] = []) => sampleArgs(EXPERT, AMATEUR, data, out, ['--skip-invalid', ...extra]);
  const full = await run(() => runCli(args(join(d, 'full.jsonl'))));
  t.equal(full.code, 0, 'exit 0', { stderr: full.stderr });
  t.match(
    full.stderr,
    /^warning: skipping 1 problem\(s\) \(--skip-invalid\): \S+q\.jsonl:5: problem "long-one" has a \d+-token prompt/m,
    'the warning names the problem (even with --quiet)',
  );
  const ids = new Set(
    readFileSync(join(d, 'full.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).prompt_id),
  );
  t.notOk(ids.has('long-one'), 'the long problem has no samples');
  t.equal(JSON.parse(readFileSync(join(d, 'full.jsonl.summary.json'), 'utf8')).problems, 30, 'the summary counts the 30 problems sampled');

  const cut = join(d, 'cut.jsonl');
  const killed = await run(
    () =>
      new Promise<boolean>((resolve, reject) => {
        const child = spawn(TEST_CLI[0], [...TEST_CLI.slice(1), ...args(cut)], { cwd: ROOT, stdio: 'ignore' });
        let sent = false;
        const poll = setInterval(() => {
          try {
            if (JSON.parse(readFileSync(`${cut}.state.json`, 'utf8')).committed >= 1) (sent = child.kill('SIGKILL')), clearInterval(poll);
          } catch {
            // not written yet
          }
        }, 5);
        child.on('error', reject);
        child.on('close', () => (clearInterval(poll), resolve(sent)));
      }),
  );
  t.ok(killed, 'killed after its first committed problem');
  const resumed = await run(() => runCli(args(cut, ['--resume'])));
  t.equal(resumed.code, 0, '--resume exits 0', { stderr: resumed.stderr });
  t.ok(readFileSync(cut).equals(readFileSync(join(d, 'full.jsonl'))), 'the resumed output is byte-identical to the uninterrupted run');
});

t.test('eval --skip-invalid: a prompt that does not fit counts as wrong and is reported', async (t) => {
  const d = mkdtempSync(join(tmp, 'eval-skip-'));
  const r = await run(() => runCli(evalArgs(withLine(d, longQuestion), ['--skip-invalid', '--json', '--out', join(d, 'r.jsonl')])));
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
  t.match(r.stderr, /warning: 1 problem\(s\) not decoded, counted as wrong .*max_position_embeddings 256\): "long-one"/);
  const summary = JSON.parse(r.stdout);
  t.equal(summary.total, 5, 'total counts every problem');
  t.equal(summary.skipped, 1, 'summary.skipped');
  t.equal(summary.accuracy, summary.correct / 5, 'accuracy is over all 5 problems');
  const records = readFileSync(join(d, 'r.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    records.map((x) => x.id),
    ['0', 'long-one', 'q-abc', '3', '4'],
    'records in input order',
  );
  t.match(records[1], { id: 'long-one', correct: false, output: '', generated_tokens: 0, skipped: /exceeds max_position_embeddings 256/ });
});
