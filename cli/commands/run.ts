// `lightreasoner-wasm run`: the whole LightReasoner loop in one command — sample → fine-tune →
// evaluate (amateur, expert before, expert after) → report.json + report.html; with no model
// arguments, on the embedded default pair and generated problems. The work is
// run job (runtime/engine/jobs.ts runJob, the Engine's `run`, over runtime/run/pipeline.ts); this
// file parses options, finds the default pair, reads the data and draws progress (the result
// lines: run-result.ts).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { type EvalProblem, parseEvalProblems } from '../../runtime/eval/evaluate.ts';
import { defaultPairDir } from '../../runtime/platform/node-default-pair.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { type BenchmarkData, benchmarkSpecsOf } from '../../runtime/engine/benchmark-job.ts';
import { type RunJob, type RunJobEvent, runJob } from '../../runtime/engine/jobs.ts';
import { defaultProblems, parseTrainProblems, type Stage, type TrainProblem } from '../../runtime/run/pipeline.ts';
import type { EvalModel } from '../../runtime/run/report-types.ts';
import { formatSeconds } from '../../runtime/run/report.ts';
import { formatDiagnostics } from '../../runtime/stage/diagnostics.ts';
import { DEFAULT_SETTINGS } from '../../runtime/stage/sample.ts';
import { DEFAULT_FINETUNE } from '../../runtime/train/finetune.ts';
import type { LoraTarget } from '../../runtime/train/lora.ts';
import { addQuantizeOptions, backendOption, intOption, numberOption, requireModelDir, targetsOption } from '../io.ts';
import { addOutputOptions, type CommandOutput, commandOutput } from '../output.ts';
import { interruptOnSignals, progressRenderer } from '../progress.ts';
import { readDataOption, resolveModelOption } from '../resolve.ts';
import { EXECUTORS, runOnCluster } from '../executors/index.ts';
import { defaultMixJsonl } from '../../runtime/data/default-mix.ts';
import { formatPairCheck } from '../../runtime/eval/pair-check-format.ts';
import { benchmarkData, benchmarkProgress } from './eval-benchmarks.ts';
import { resultLines } from './run-result.ts';

/**
 * Defaults of the embedded run (no --train-data/--eval-data): 1,000 held-out problems, so an
 * accuracy is known to about ±3 points. The settings the sweep chose on `dev`
 * (models/default/settings.json) override trainQuestions and maxSteps here. Measured on a fresh
 * clone (2-core AMD EPYC, Wasm): 72 s in all (sampling 3 s, fine-tuning 39 s, three evaluations of
 * 1,000 problems 3 + 13 + 14 s); with --compare-sft --seeds 3, 6 min 5 s. The evaluation's 160
 * tokens match scripts/build-default-pair.ts's. Re-time after changing them.
 */
export const EMBEDDED_DEFAULTS = Object.freeze({ trainQuestions: 128, evalQuestions: 1000, maxSteps: 200, evalMaxNewTokens: 160 });

/** models/default/settings.json: the embedded pair's sampling and fine-tuning settings, chosen on
 * the `dev` set by scripts/sweep-default.ts (never on the held-out `eval` set). */
export interface EmbeddedSettings {
  chosen_on: string;
  trainQuestions: number;
  /** The plausibility mask's α (absent in older settings: the sampling default). */
  alpha?: number;
  beta: number;
  lr: number;
  maxSteps: number;
  loraR: number;
  loraAlpha: number;
  targetModules: LoraTarget[];
}

/**
 * `run --help`'s default for an option whose value the embedded run takes from
 * models/default/settings.json: both values, so the help never shows one the run does not use.
 */
function embeddedDefault(embedded: unknown, own: unknown): string {
  const text = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  if (embedded === undefined || text(embedded) === text(own)) return text(own);
  return `${text(embedded)} for the embedded pair (models/default/settings.json), ${text(own)} with your models`;
}

/** The embedded pair's settings for the help text; null when the pair or its settings are not there (or unreadable). */
function embeddedSettingsForHelp(): EmbeddedSettings | null {
  try {
    const dir = defaultPairDir();
    return dir ? embeddedSettings(dir) : null;
  } catch {
    return null;
  }
}

export function embeddedSettings(dir: string): EmbeddedSettings | null {
  const file = resolve(dir, 'settings.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as EmbeddedSettings) : null;
}

const HELP = `
With no model arguments the embedded default runs offline: the package's tiny expert/amateur
pair (models/default) on generated arithmetic word problems (the generator's "sample" set to
train on, its "eval" set held out; ${EMBEDDED_DEFAULTS.trainQuestions} and ${EMBEDDED_DEFAULTS.evalQuestions} problems unless told), with the
sampling and fine-tuning settings in models/default/settings.json — chosen on the generator's
"dev" set by scripts/sweep-default.ts, never on the held-out set; any option given here wins.
Your own pair: --expert DIR --amateur DIR (same tokenizer), with GSM8K-format JSONL files
(--train-data: "question" needed, "answer" used only by --compare-sft; --eval-data: "question"
and a gold "answer"); a missing data file is replaced by generated problems.

Stages: sample (stage 1, as \`sample\`) → fine-tune (stage 2, LoRA, as \`finetune\`) → evaluate the
amateur, the expert, and the expert with the adapter on the held-out set (as \`eval\`, prompt
qwen25-math-cot, greedy) → report. --compare-sft adds the paper's rejection-sampling SFT baseline:
the expert's greedy trajectories on the training problems (kept when the final answer is right,
if the problems have answers), LoRA cross-entropy over them (\`finetune --objective sft\`) with
the same settings and step budget (--sft-steps), evaluated the same way.

Every accuracy comes with its 95% Wilson interval; each tuned expert is compared with the expert
before on the same problems (fixed, broken, exact McNemar p). After sampling, before any training,
the pair diagnostics say whether the soft labels can change the expert at all (label flips: the
label's argmax is not the expert's own greedy token). --seeds N repeats fine-tuning with N seeds
on the one set of samples and reports mean ± sd.

Output in --out: samples.jsonl, adapter/ (PEFT LoRA + train_log.jsonl), eval/*.jsonl,
sft/ (with --compare-sft), report.json and report.html (one self-contained page; open it in a
browser). A non-empty --out is refused unless --resume (continue an interrupted run, keeping
its finished work: sampling from its last problem, fine-tuning from its last checkpoint with
--save-steps, finished evaluations whole and an interrupted one from its finished problems; the
outputs are the uninterrupted run's bytes) or --overwrite (replace the run's own files; anything
else in the folder is kept).`;

export function registerRun(program: Command): void {
  const chosen = embeddedSettingsForHelp();
  const command = program
    .command('run')
    .description('the whole LightReasoner loop: sample → fine-tune → evaluate before/after → report.html (no arguments: the embedded default, offline)');
  addRunPlacementOptions(addRunSettingsOptions(addRunDataOptions(command, chosen), chosen)).addHelpText('after', HELP);
  addOutputOptions(addQuantizeOptions(command, true), 'report.json (local executor)').action((o, cmd: Command) => runCommand(o, cmd));
}

/** The embedded pair's chosen settings (models/default/settings.json), for the help's defaults. */
type ChosenSettings = ReturnType<typeof embeddedSettingsForHelp>;

/** An option whose embedded default comes from settings.json: commander keeps `own` as the value
 * (the action puts the embedded one in when the option was not given), the help shows both. */
function tunedOption<T>(flags: string, description: string, parse: (v: string) => T, own: T, embedded: unknown): Option {
  return new Option(flags, description).argParser(parse).default(own, embeddedDefault(embedded, own));
}

/** The models, data, problem counts, pair-check and SFT-baseline options. */
function addRunDataOptions(command: Command, chosen: ChosenSettings): Command {
  return command
    .option('--expert <dir>', 'expert model directory (default: the embedded pair)')
    .option('--amateur <dir>', 'amateur model directory (same tokenizer, weaker)')
    .option('--train-data <file>', 'training problems, JSONL (default: generated)')
    .option('--eval-data <file>', 'held-out problems with answers, JSONL (default: generated)')
    .option('--out <dir>', 'output directory', 'lightreasoner-run')
    .option(
      '--max-questions <n>',
      `training problems to sample (default: ${chosen?.trainQuestions ?? EMBEDDED_DEFAULTS.trainQuestions} generated, or all of --train-data)`,
      intOption('--max-questions', 1),
    )
    .option(
      '--eval-questions <n>',
      `held-out problems (default: ${EMBEDDED_DEFAULTS.evalQuestions} generated, or all of --eval-data)`,
      intOption('--eval-questions', 1),
    )
    .option(
      '--pair-check <n>',
      "before sampling: pair-check on N problems (greedy vs contrastive decoding at the run's α and β, paired; see `pair-check --help`)",
      intOption('--pair-check', 1),
    )
    .option('--pair-check-data <file>', 'problems with answers for --pair-check, JSONL (default: generated "dev" problems)')
    .option('--compare-sft', 'also train and evaluate the rejection-sampling SFT baseline')
    .option('--sft-steps <n>', 'SFT optimizer steps (default: --max-steps)', intOption('--sft-steps', 1));
}

/** The sampling, fine-tuning and evaluation settings. */
function addRunSettingsOptions(command: Command, chosen: ChosenSettings): Command {
  const d = DEFAULT_FINETUNE,
    s = DEFAULT_SETTINGS;
  return command
    .option('--max-new-tokens <n>', 'sampling: trajectory prefix length at most', intOption('--max-new-tokens', 1), s.maxNewTokens)
    .addOption(tunedOption('--alpha <x>', 'sampling: plausibility mask P_E ≥ alpha · max P_E', numberOption('--alpha', 0, 1), s.alpha, chosen?.alpha))
    .addOption(tunedOption('--beta <x>', 'sampling: keep steps with KL ≥ beta', numberOption('--beta', 0, Number.MAX_VALUE), s.beta, chosen?.beta))
    .option('--sample-batch-size <n>', 'sampling: problems decoded together', intOption('--sample-batch-size', 1), s.batchSize)
    .option(
      '--max-steps <n>',
      `fine-tuning: optimizer steps (default: ${embeddedDefault(chosen?.maxSteps ?? EMBEDDED_DEFAULTS.maxSteps, d.maxSteps)})`,
      intOption('--max-steps', 1),
    )
    .addOption(tunedOption('--lr <x>', 'fine-tuning: peak learning rate', numberOption('--lr', 1e-12, 10), d.lr, chosen?.lr))
    .option('--batch-size <n>', 'fine-tuning: samples per micro-batch', intOption('--batch-size', 1), d.batchSize)
    .option('--grad-accum <n>', 'fine-tuning: micro-batches per step', intOption('--grad-accum', 1), d.gradAccum)
    .addOption(tunedOption('--lora-r <n>', 'LoRA rank', intOption('--lora-r', 1), d.lora.r, chosen?.loraR))
    .addOption(tunedOption('--lora-alpha <x>', 'LoRA alpha', numberOption('--lora-alpha', 1e-9, Number.MAX_VALUE), d.lora.alpha, chosen?.loraAlpha))
    .addOption(tunedOption('--target-modules <list>', 'LoRA target modules, comma-separated', targetsOption, [...d.lora.targetModules], chosen?.targetModules))
    .option('--seed <n>', 'fine-tuning seed (the first of --seeds)', intOption('--seed', 0), d.seed)
    .option(
      '--seeds <n>',
      'repeat fine-tuning (and the SFT baseline) with N seeds (--seed, --seed + 1, …) on the one set of samples; report mean ± sd',
      intOption('--seeds', 1),
      1,
    )
    .option(
      '--eval-max-new-tokens <n>',
      `evaluation: tokens per answer at most (default ${EMBEDDED_DEFAULTS.evalMaxNewTokens} embedded, 512 with your models)`,
      intOption('--eval-max-new-tokens', 1),
    )
    .option('--eval-batch-size <n>', 'evaluation: problems decoded together', intOption('--eval-batch-size', 1), 8);
}

/** Where and how the run goes: backend, output folder handling, benchmarks, the cluster executors. */
function addRunPlacementOptions(command: Command): Command {
  return command
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'))
    .option('--threads <n>', 'Wasm: threads per model (default: all cores)', intOption('--threads', 1))
    .option(
      '--base-model-name <name>',
      "adapter_config.json's base_model_name_or_path (default: the Hub id of a Hub expert, with its commit as revision; else the expert directory's name)",
    )
    .option('--save-steps <n>', 'fine-tuning: checkpoint every N steps, so --resume continues a fine-tuning (0: never)', intOption('--save-steps', 0), 0)
    .option('--resume', 'continue an interrupted run in --out, keeping its finished samples, fine-tuning checkpoints and evaluated problems')
    .option('--overwrite', "start afresh in a non-empty --out: replace this command's files there (others are kept)")
    .option(
      '--eval-benchmarks <names>',
      "after the run, evaluate the expert before and after on the paper's benchmarks (comma-separated toolkit names, e.g. gsm8k,math,svamp,asdiv,minerva_math,olympiadbench,mmlu_stem): OUT/benchmarks/, the paper's table on stdout",
    )
    .addOption(new Option('--executor <kind>', 'where the loop runs: here, as Slurm jobs (sbatch), or as Kubernetes Jobs').choices(EXECUTORS).default('local'))
    .option('--shards <n>', 'slurm/k8s: tasks of each sharded stage (sampling, the evaluations)', intOption('--shards', 1))
    .option('--sbatch-args <args>', 'slurm: extra sbatch arguments for every job, e.g. "--partition=cpu --time=4:00:00"')
    .option('--wait', 'slurm: wait for the jobs; exit 0 when the report is written, 1 otherwise')
    .option('--dry-run', 'slurm: print the batch scripts; k8s: print the manifests (multi-document YAML); submit nothing')
    .option('--image <image>', "k8s: the container image (built from the repository's Dockerfile)")
    .option('--pvc <name>', 'k8s: the PersistentVolumeClaim shared by every pod, mounted at /data', 'lightreasoner-data')
    .option('--k8s-timeout <duration>', 'k8s: how long to wait for each Job (kubectl wait --timeout)', '168h')
    .addOption(new Option('--from-stage-outputs', "write the report from the stage outputs already in --out (the cluster executors' last job)").hideHelp());
}

type RunOptions = Record<string, any>;

/** `run`'s action: the pair and data resolved, then the run job here (or the stages on a cluster). */
async function runCommand(o: RunOptions, cmd: Command): Promise<void> {
  const output = commandOutput(o);
  if (o.json && o.executor !== 'local')
    throw badInputError(`--json prints the report of a local run; with --executor ${o.executor} the report is ${o.out}/report.json once the jobs are done`);
  const pair = await runPair(o, cmd);
  const data = await runData(o);
  const maxSteps = o.maxSteps ?? (pair.embedded ? EMBEDDED_DEFAULTS.maxSteps : DEFAULT_FINETUNE.maxSteps);
  const evalMax = o.evalMaxNewTokens ?? (pair.embedded ? EMBEDDED_DEFAULTS.evalMaxNewTokens : 512);
  if (o.executor !== 'local') {
    if (o.evalBenchmarks !== undefined)
      throw badInputError("--eval-benchmarks runs here only: with --executor, run eval --benchmark on the run's adapter afterwards");
    if (data.pairCheck) throw badInputError(`--pair-check runs with --executor local only; on ${o.executor}, run \`pair-check\` as a job of its own`);
    await runOnCluster(
      o as Parameters<typeof runOnCluster>[0],
      {
        ...pair,
        trainCount: data.train.length,
        evalCount: data.evalSet.length,
        maxSteps,
        evalMaxNewTokens: evalMax,
        trainText: data.trainData?.text ?? defaultMixJsonl(data.train.length, 'sample'),
        evalText: data.evalData?.text ?? defaultMixJsonl(data.evalSet.length, 'eval'),
        generated: { train: data.trainData === null, eval: data.evalData === null },
      },
      output.progress,
    );
    return;
  }
  // Read (and checked) before hours of sampling and fine-tuning, not after.
  const benchmarks = o.evalBenchmarks === undefined ? undefined : await benchmarkData(String(o.evalBenchmarks), { quiet: o.quiet });
  const job = runJobOptions(o, pair, data, { maxSteps, evalMax, benchmarks });
  const interrupt = interruptOnSignals(output.progress);
  const bar = progress(output);
  try {
    output.progress(
      `LightReasoner run: expert ${pair.expert}, amateur ${pair.amateur}; ${data.train.length} training problems (${o.trainData ?? 'generated'}), ${data.evalSet.length} held-out (${o.evalData ?? 'generated'}) → ${o.out}/`,
    );
    const { benchmarks: table, ...report } = await runJob({ platform: nodePlatform, signal: interrupt.signal }, job, bar.event);
    bar.done();
    // --json: report.json's content, with the benchmark table (table.json) under `benchmarks`.
    output.result([...resultLines(report, o.out), ...(table ? ['', table.text] : [])], table ? { ...report, benchmarks: table.json } : report);
  } catch (err) {
    bar.done();
    if (err instanceof LightReasonerError && err.code === 'ABORTED')
      throw new LightReasonerError('ABORTED', `interrupted: no report written; run the same command with --resume to continue from what ${o.out} holds`);
    throw err;
  } finally {
    interrupt.dispose();
  }
}

/** The expert and amateur: given (Hub ids resolved), or the embedded pair with its settings.json put into `o` where not given. */
async function runPair(o: RunOptions, cmd: Command): Promise<{ expert: string; amateur: string; embedded: boolean }> {
  await resolveModelOption(o, 'expert');
  await resolveModelOption(o, 'amateur');
  if ((o.expert === undefined) !== (o.amateur === undefined)) throw badInputError('give both --expert and --amateur, or neither (the embedded default pair)');
  if (o.expert !== undefined) {
    await requireModelDir(nodePlatform.fs, '--expert', o.expert);
    await requireModelDir(nodePlatform.fs, '--amateur', o.amateur);
    return { expert: o.expert, amateur: o.amateur, embedded: false };
  }
  const dir = defaultPairDir();
  if (!dir) {
    throw new LightReasonerError(
      'NOT_FOUND',
      'the embedded default pair (models/default/{expert,amateur}) is not in this package yet: it is built by scripts/build-default-pair.ts. Meanwhile pass your own pair: run --expert DIR --amateur DIR',
    );
  }
  // The embedded pair's settings come from its dev-set sweep, unless given on the command line.
  const chosen = embeddedSettings(dir);
  if (chosen) {
    const set = (name: string, value: unknown) => {
      if (cmd.getOptionValueSource(name) !== 'cli') o[name] = value;
    };
    if (o.trainData === undefined) set('maxQuestions', chosen.trainQuestions);
    if (chosen.alpha !== undefined) set('alpha', chosen.alpha);
    set('beta', chosen.beta);
    set('lr', chosen.lr);
    set('maxSteps', chosen.maxSteps);
    set('loraR', chosen.loraR);
    set('loraAlpha', chosen.loraAlpha);
    set('targetModules', chosen.targetModules);
  }
  return { expert: resolve(dir, 'expert'), amateur: resolve(dir, 'amateur'), embedded: true };
}

type DataText = Awaited<ReturnType<typeof readDataOption>>;
interface RunData {
  train: TrainProblem[];
  evalSet: EvalProblem[];
  trainData: DataText | null;
  evalData: DataText | null;
  pairCheck?: RunJob['pairCheck'];
}

/** The training, held-out and pair-check problems: read from the data options, else generated. */
async function runData(o: RunOptions): Promise<RunData> {
  const gen = defaultProblems(
    o.trainData ? 0 : (o.maxQuestions ?? EMBEDDED_DEFAULTS.trainQuestions),
    o.evalData ? 0 : (o.evalQuestions ?? EMBEDDED_DEFAULTS.evalQuestions),
  );
  const trainData = o.trainData ? await readDataOption('--train-data', o.trainData, 'train', o.quiet) : null;
  const evalData = o.evalData ? await readDataOption('--eval-data', o.evalData, 'test', o.quiet) : null;
  let train = trainData ? parseTrainProblems(trainData.text, { file: o.trainData }) : gen.train;
  let evalSet = evalData ? parseEvalProblems(evalData.text, { file: o.evalData }) : gen.eval;
  if (o.maxQuestions !== undefined) train = train.slice(0, o.maxQuestions);
  if (o.evalQuestions !== undefined) evalSet = evalSet.slice(0, o.evalQuestions);
  if (o.pairCheckData !== undefined && o.pairCheck === undefined) throw badInputError('--pair-check-data needs --pair-check N (how many of its problems)');
  if (o.evalBenchmarks !== undefined)
    benchmarkSpecsOf(
      String(o.evalBenchmarks)
        .split(',')
        .map((n) => n.trim().split('=')[0])
        .filter(Boolean),
    );
  if (o.pairCheck === undefined) return { train, evalSet, trainData, evalData };
  const pairCheckData = o.pairCheckData ? await readDataOption('--pair-check-data', o.pairCheckData, 'test', o.quiet) : null;
  const problems = pairCheckData
    ? parseEvalProblems(pairCheckData.text, { file: o.pairCheckData })
    : parseEvalProblems(defaultMixJsonl(o.pairCheck, 'dev'), { file: 'generated dev set' });
  return {
    train,
    evalSet,
    trainData,
    evalData,
    pairCheck: { problems: problems.slice(0, o.pairCheck), source: o.pairCheckData ?? 'generated problems (set "dev", seed 0)' },
  };
}

/** Every run option as the run job's (runtime/engine/jobs.ts runJob, the Engine's `run`). */
function runJobOptions(
  o: RunOptions,
  pair: { expert: string; amateur: string },
  data: RunData,
  x: { maxSteps: number; evalMax: number; benchmarks?: BenchmarkData[] },
): RunJob {
  const d = DEFAULT_FINETUNE;
  return {
    expert: pair.expert,
    amateur: pair.amateur,
    train: data.train,
    eval: data.evalSet,
    out: o.out,
    backend: o.backend,
    quantize: o.quantize,
    quantizeExpert: o.quantizeExpert,
    quantizeAmateur: o.quantizeAmateur,
    threads: o.threads,
    baseModelName: o.baseModelName,
    resume: !!o.resume,
    overwrite: !!o.overwrite,
    fromStageOutputs: !!o.fromStageOutputs,
    trainSource: o.trainData ?? 'generated problems (set "sample", seed 0)',
    evalSource: o.evalData ?? 'generated problems (set "eval", seed 0)',
    trainHub: data.trainData?.hub,
    evalHub: data.evalData?.hub,
    sample: { alpha: o.alpha, beta: o.beta, maxNewTokens: o.maxNewTokens, batchSize: o.sampleBatchSize },
    finetune: {
      lr: o.lr,
      batchSize: o.batchSize,
      gradAccum: o.gradAccum,
      maxSteps: x.maxSteps,
      seed: o.seed,
      saveSteps: o.saveSteps,
      lora: { ...d.lora, r: o.loraR, alpha: o.loraAlpha, targetModules: o.targetModules },
    },
    evalSettings: { maxNewTokens: x.evalMax, batchSize: o.evalBatchSize },
    pairCheck: data.pairCheck,
    compareSft: !!o.compareSft,
    sftSteps: o.sftSteps,
    seeds: Array.from({ length: o.seeds }, (_, k) => o.seed + k),
    benchmarks: x.benchmarks,
  };
}

const STAGE_NAMES: Record<Stage, string> = {
  load: 'loading the models',
  'pair-check': 'pair-check: greedy vs contrastive decoding',
  sample: 'stage 1: sampling',
  finetune: 'stage 2: fine-tuning',
  eval: 'evaluating',
  'sft-trajectories': 'SFT baseline: expert trajectories',
  'sft-finetune': 'SFT baseline: fine-tuning',
  report: 'writing the report',
};
const MODEL_NAMES: Record<EvalModel, string> = {
  amateur: 'the amateur',
  expert_before: 'the expert (before)',
  expert_after: 'the expert + adapter',
  expert_sft: 'the expert + SFT adapter',
};

/** Stage lines, and a redrawn detail line on a TTY (a line at most every 10 s otherwise); warnings even with --quiet. */
function progress(output: CommandOutput) {
  const enabled = !output.quiet;
  const r = progressRenderer(enabled, { indent: '  ' });
  const detail = (text: string, final = false) => r.show(text, { piped: true, final });
  const clear = r.done;
  const benchmarks = benchmarkProgress(output);
  return {
    event(e: RunJobEvent) {
      if (e.status === 'benchmarks') return benchmarks.event(e.event);
      if (e.status === 'warning') {
        clear();
        output.warn(e.message);
        return;
      }
      if (!enabled) return;
      switch (e.status) {
        case 'stage': {
          if (e.stage === 'report') return;
          const name = e.stage === 'eval' ? `evaluating ${MODEL_NAMES[e.model!]}` : STAGE_NAMES[e.stage];
          r.line(e.state === 'start' ? `${name}…` : `  done in ${formatSeconds(e.seconds ?? 0)}`);
          r.mark();
          return;
        }
        case 'pair-check':
          if (e.event.status === 'problem') detail(`${e.event.done}/${e.event.total} problems`, e.event.done === e.event.total);
          else if (e.event.status === 'done') {
            clear();
            output.progress(`  ${formatPairCheck(e.event.report).at(-1)} (the table comes with the result)`);
          }
          return;
        case 'sample':
          if (e.event.status === 'committed')
            detail(
              `${e.event.done}/${e.event.total} problems · ${e.event.samples} samples · ${(e.event.tokens / Math.max(e.event.seconds, 1e-9)).toFixed(1)} tok/s`,
              e.event.done === e.event.total,
            );
          return;
        case 'finetune':
          if (e.event.status === 'step')
            detail(
              `step ${e.event.step}/${e.event.maxSteps} · loss ${e.event.loss.toFixed(4)} · ${e.event.tokens_per_s.toFixed(0)} tok/s`,
              e.event.step === e.event.maxSteps,
            );
          return;
        case 'eval':
          if (e.event.status === 'problem') detail(`${e.event.done}/${e.event.total} problems · ${e.event.correct} right`, e.event.done === e.event.total);
          return;
        case 'trajectories':
          detail(`${e.done}/${e.total} problems · ${e.kept} trajectories kept`, e.done === e.total);
          return;
        case 'diagnostics':
          for (const l of formatDiagnostics(e.diagnostics)) r.line(l);
          return;
      }
    },
    done: () => {
      clear();
      benchmarks.done();
    },
  };
}
