// `lightreasoner-wasm sample`: LightReasoner stage 1 (expert–amateur contrastive sampling) over a
// JSONL file of problems, crash-safe and exactly resumable. The work is the sample job
// (runtime/engine/jobs.ts sampleJob, over runtime/stage/sampling.ts) an app's Engine runs too; this
// file parses options, reads the data, picks the shard and draws progress.
import { type Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import { sampleJob } from '../../runtime/engine/jobs.ts';
import { LightReasonerError } from '../../runtime/errors.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { sha256Hex } from '../../runtime/stage/fingerprint.ts';
import { formatDiagnostics } from '../../runtime/stage/diagnostics.ts';
import { type RunEvent, statePath, summaryPath } from '../../runtime/stage/sampling.ts';
import { parseShard, type ShardInfo, shardPath, takeShard } from '../../runtime/shard/shard.ts';
import { DEFAULT_SETTINGS, parseProblems, type SampleSettings } from '../../runtime/stage/sample.ts';
import { addQuantizeOptions, backendOption, intOption, requireModelDir } from '../io.ts';
import { addOutputOptions, commandOutput } from '../output.ts';
import { interruptOnSignals, progressRenderer } from '../progress.ts';
import { readDataOption, resolveModelOption } from '../resolve.ts';

function numberOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}] (got "${value}")`);
    return n;
  };
}

const HELP = `
The expert decodes greedily (argmax) whatever its generation_config.json says about sampling;
its EOS ids come from generation_config.json (else config.json). The prompt is the expert
tokenizer's chat template of [system, user: question] with the generation prompt; the amateur
reads the expert's exact token ids (one teacher-forced pass, never re-tokenized) and must share
the expert's vocabulary on ids < min(vocab sizes) (checked before any work).

Input: JSONL with "question" (required) and "id" (optional; else the 0-based line index).
Output: one JSONL line per kept step {prompt_id, step, prefix, tokens, token_ids, weights,
kl_divergence, question, prefix_token_ids}; OUT.summary.json and OUT.state.json beside it.
An interrupted run (crash, Ctrl-C) continues with the same command plus --resume, giving the
same bytes as an uninterrupted run.

Shards (job arrays): --shard I/N runs shard I (0-based) of N, a contiguous block of whole batches,
into OUT's shard file (S.jsonl → S.shard-0000I-of-0000N.jsonl, with its own .state.json and
.summary.json); --shard auto reads I and N from Slurm (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN,
SLURM_ARRAY_TASK_COUNT), Google Batch (BATCH_TASK_INDEX, BATCH_TASK_COUNT), Kubernetes Indexed Jobs
(JOB_COMPLETION_INDEX) or AWS Batch (AWS_BATCH_JOB_ARRAY_INDEX) — the last two with N from
--shard auto/N or LIGHTREASONER_SHARD_COUNT. A finished shard run again is skipped; a killed one
continues with --resume. \`lightreasoner-wasm gather OUT\` then writes OUT as one run would.`;

export function registerSample(program: Command): void {
  const command = addSampleOptions(
    program.command('sample').description('LightReasoner stage 1: keep the steps where an expert and an amateur disagree, with soft labels'),
  ).addHelpText('after', HELP);
  addOutputOptions(
    addQuantizeOptions(command, true),
    'the run summary (OUT.summary.json, with the pair diagnostics)',
    'no progress output (the pair diagnostics are still printed: they are a result)',
  ).action(runSample);
}

/** The models, data, output and sampling settings of `sample`, in help order. */
function addSampleOptions(command: Command): Command {
  return command
    .requiredOption('--expert <dir>', 'expert model directory (the model to be taught)')
    .requiredOption('--amateur <dir>', 'amateur model directory (same tokenizer, weaker model)')
    .requiredOption('--data <file>', 'problems, JSONL')
    .requiredOption('--out <file>', 'samples, JSONL')
    .option('--max-questions <n>', 'use the first N problems', intOption('--max-questions', 1))
    .option('--max-new-tokens <n>', 'trajectory length at most', intOption('--max-new-tokens', 1), DEFAULT_SETTINGS.maxNewTokens)
    .option('--alpha <x>', 'plausibility mask: P_E ≥ alpha · max P_E', numberOption('--alpha', 0, 1), DEFAULT_SETTINGS.alpha)
    .option('--beta <x>', 'keep steps with KL(P_E‖P_A) ≥ beta', numberOption('--beta', 0, Number.MAX_VALUE), DEFAULT_SETTINGS.beta)
    .option('--system <text>', 'system message of the prompt', DEFAULT_SETTINGS.system)
    .option('--batch-size <n>', 'problems decoded together', intOption('--batch-size', 1), DEFAULT_SETTINGS.batchSize)
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'))
    .option('--threads <n>', 'Wasm: threads per model (default: all cores)', intOption('--threads', 1))
    .option('--resume', 'continue an interrupted run of the same command')
    .option('--shard <I/N|auto|auto/N>', 'run one shard of the problems (see below)')
    .option(
      '--skip-invalid',
      'skip input lines that are not JSON objects with a "question" string, and problems whose prompt does not fit the models\' context',
    );
}

/** The problems this run samples (the shard's, with --shard) and where it writes them. */
async function sampleInput(o: OptionValues, log: (line: string) => void) {
  const shardOf = o.shard === undefined ? null : parseShard(o.shard, process.env); // before any work
  const { text } = await readDataOption('--data', o.data, 'train', o.quiet);
  let problems = parseProblems(text, { file: o.data, skipInvalid: o.skipInvalid, onSkip: (line, why) => log(`skipping ${o.data}:${line}: ${why}`) });
  if (o.maxQuestions !== undefined) problems = problems.slice(0, o.maxQuestions);
  const out: string = shardOf ? shardPath(o.out, shardOf) : o.out;
  let shard: ShardInfo | undefined;
  if (shardOf) ({ info: shard, problems } = takeShard(problems, o.batchSize, shardOf));
  return { text, problems, out, shard };
}

async function runSample(o: OptionValues): Promise<void> {
  const fs = nodePlatform.fs;
  const output = commandOutput(o);
  const log = output.progress;
  const { text, problems, out, shard } = await sampleInput(o, log);
  await resolveModelOption(o, 'expert');
  await resolveModelOption(o, 'amateur');
  await requireModelDir(fs, '--expert', o.expert);
  await requireModelDir(fs, '--amateur', o.amateur);
  const settings: SampleSettings = { alpha: o.alpha, beta: o.beta, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize, system: o.system };
  const interrupt = interruptOnSignals(log);
  try {
    const bar = progress(!o.quiet);
    let finishedBefore = false;
    // The same job an app's Engine runs (runtime/engine/jobs.ts): it skips a finished shard before
    // loading any model, opens the pair, refuses (or with --skip-invalid skips) prompts too long.
    const summary = await sampleJob(
      { platform: nodePlatform, signal: interrupt.signal },
      {
        expert: o.expert,
        amateur: o.amateur,
        problems,
        out,
        resume: o.resume,
        shard,
        settings,
        backend: o.backend,
        threads: o.threads,
        quantize: o.quantize,
        quantizeExpert: o.quantizeExpert,
        quantizeAmateur: o.quantizeAmateur,
        skipInvalid: o.skipInvalid === true,
        source: o.data,
        dataDigest: await sha256Hex(new TextEncoder().encode(text)),
        createFolder: false,
      },
      (e) => {
        if (e.status === 'warning')
          output.warn(e.message); // even with --quiet: which problems the output lacks is part of the result
        else if (e.status === 'already-finished') finishedBefore = true;
        else bar.event(e);
      },
    );
    if (finishedBefore) {
      output.result(
        `shard ${shard!.index}/${shard!.count}: ${out} is already finished (${summary.problems} problems, ${summary.selected_steps} samples); skipped`,
        summary,
      );
      return;
    }
    bar.done();
    output.result(
      [
        `wrote ${summary.selected_steps} samples from ${summary.problems} problems to ${out} (summary: ${summaryPath(out)})`,
        ...formatDiagnostics(summary.diagnostics),
      ],
      summary,
    );
  } catch (e) {
    if (e instanceof LightReasonerError && e.code === 'ABORTED') {
      throw new LightReasonerError(
        'ABORTED',
        `interrupted: committed problems are kept in ${out} (${statePath(out)}); run the same command with --resume to continue`,
      );
    }
    throw e;
  } finally {
    interrupt.dispose();
  }
}

/** Problems done, speed, samples and ETA: a bar on a TTY; a line per commit (at most every 10 s) when piped. */
function progress(enabled: boolean) {
  const r = progressRenderer(enabled);
  let total = 0,
    done = 0,
    samples = 0,
    tokens = 0,
    seconds = 0,
    startDone = 0,
    batchTokens = 0;
  const t0 = performance.now();
  const render = () => {
    const elapsed = (performance.now() - t0) / 1000;
    const rate = (tokens + batchTokens) / Math.max(elapsed, 1e-9);
    const perProblem = done > startDone ? seconds / (done - startDone) : NaN;
    const eta = Number.isFinite(perProblem) ? `${Math.round(perProblem * (total - done))}s` : '?';
    return `${done}/${total} problems · ${rate.toFixed(1)} tok/s · ${samples} samples · ETA ${eta}`;
  };
  return {
    event(e: RunEvent) {
      if (!enabled) return;
      if (e.status === 'start') {
        total = e.total;
        done = startDone = e.committed;
      } else if (e.status === 'step') batchTokens = e.tokens;
      else if (e.status === 'committed') {
        ({ done, samples, tokens, seconds } = e);
        batchTokens = 0;
      } else return;
      r.show(render(), { fraction: total ? done / total : 0, piped: e.status === 'committed', final: done === total });
    },
    done: r.done,
  };
}
