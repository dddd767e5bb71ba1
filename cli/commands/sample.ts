// `lightreasoner-wasm sample`: LightReasoner stage 1 (expert–amateur contrastive sampling) over a
// JSONL file of problems, crash-safe and exactly resumable. The work is runtime/stage/run.ts; this
// file parses options, opens the models and draws progress.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createBackend } from '../../runtime/backend/index.ts';
import type { Backend } from '../../runtime/backend/types.ts';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { type CausalLM, loadModel } from '../../runtime/model/model.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { modelFingerprint, sha256Hex } from '../../runtime/stage/fingerprint.ts';
import { formatDiagnostics } from '../../runtime/stage/diagnostics.ts';
import { finishedSampling, readSamplingState, type RunEvent, type RunIdentity, runSampling, statePath, summaryPath } from '../../runtime/stage/run.ts';
import { parseShard, type ShardInfo, shardPath, takeShard } from '../../runtime/shard/shard.ts';
import { contextOf, DEFAULT_SETTINGS, parseProblems, type SampleSettings, tooLongMessage, tooLongPrompts } from '../../runtime/stage/sample.ts';
import { backendOption, intOption, requireModelDir } from '../io.ts';
import { addOutputOptions, commandOutput } from '../output.ts';
import { readDataOption, resolveModelOption } from '../resolve.ts';

function numberOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}] (got "${value}")`);
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
  const command = program
    .command('sample')
    .description('LightReasoner stage 1: keep the steps where an expert and an amateur disagree, with soft labels')
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
    .option('--resume', 'continue an interrupted run of the same command')
    .option('--shard <I/N|auto|auto/N>', 'run one shard of the problems (see below)')
    .option('--skip-invalid', 'skip input lines that are not JSON objects with a "question" string, and problems whose prompt does not fit the models\' context')
    .addHelpText('after', HELP);
  addOutputOptions(command, 'the run summary (OUT.summary.json, with the pair diagnostics)', 'no progress output (the pair diagnostics are still printed: they are a result)')
    .action(async (o) => {
      const fs = nodePlatform.fs;
      const output = commandOutput(o);
      const log = output.progress;
      const shardOf = o.shard === undefined ? null : parseShard(o.shard, process.env); // before any work
      const { text } = await readDataOption('--data', o.data, 'train', o.quiet);
      let problems = parseProblems(text, { file: o.data, skipInvalid: o.skipInvalid, onSkip: (line, why) => log(`skipping ${o.data}:${line}: ${why}`) });
      if (o.maxQuestions !== undefined) problems = problems.slice(0, o.maxQuestions);
      const out: string = shardOf ? shardPath(o.out, shardOf) : o.out;
      let shard: ShardInfo | undefined;
      if (shardOf) ({ info: shard, problems } = takeShard(problems, o.batchSize, shardOf));
      await resolveModelOption(o, 'expert');
      await resolveModelOption(o, 'amateur');
      await requireModelDir(fs, '--expert', o.expert);
      await requireModelDir(fs, '--amateur', o.amateur);
      const [ef, af, data] = await Promise.all([modelFingerprint(fs, o.expert), modelFingerprint(fs, o.amateur), sha256Hex(new TextEncoder().encode(text))]);
      const settings: SampleSettings = { alpha: o.alpha, beta: o.beta, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize, system: o.system };
      const backendKind = o.backend === 'auto' ? null : o.backend;
      if (shard) {
        // Skipped before any model is loaded. The backend `auto` picks is known only once it starts,
        // so with --backend auto the finished run's backend stands.
        const done = await finishedShard(out, settings, { expert: { source: o.expert, fingerprint: ef }, amateur: { source: o.amateur, fingerprint: af }, data }, backendKind, shard);
        if (done) {
          output.result(`shard ${shard.index}/${shard.count}: ${out} is already finished (${done.problems} problems, ${done.selected_steps} samples); skipped`, done);
          return;
        }
      }

      const backends: Backend[] = [];
      let expert: CausalLM | null = null, amateur: CausalLM | null = null;
      const controller = new AbortController();
      const onSigint = () => {
        if (controller.signal.aborted) process.exit(130);
        log('\ninterrupting after the current step (Ctrl-C again to stop at once)…');
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        backends.push(await createBackend(o.backend, nodePlatform));
        expert = await loadModel(o.expert, { fs, backend: backends[0], signal: controller.signal });
        // WebGPU and the reference share one backend (contrast needs both logits on one device and
        // one GPUDevice avoids a copy per step); Wasm gives each model its own linear memory (4 GiB
        // each at most), and the stage copies the amateur's logits rows over.
        if (backends[0].info.kind === 'wasm') backends.push(await createBackend('wasm', nodePlatform));
        amateur = await loadModel(o.amateur, { fs, backend: backends[backends.length - 1], signal: controller.signal });
        // Prompts that do not fit the context are refused, or skipped with --skip-invalid: the same
        // ones on every run of the same command (data, models and settings decide), so --resume
        // continues the same list and gives the same bytes.
        const long = tooLongPrompts(expert, amateur, problems, settings);
        if (long.length) {
          const message = tooLongMessage(long, o.maxNewTokens, contextOf(expert, amateur), o.data);
          if (!o.skipInvalid) throw badInputError(`${message}; or pass --skip-invalid to skip such problems`, o.data);
          // Printed even with --quiet: which problems the output lacks is part of the result.
          output.warn(`skipping ${long.length} problem(s) (--skip-invalid): ${message}`);
          const skipped = new Set(long.map((x) => x.problem));
          problems = problems.filter((p) => !skipped.has(p));
          if (problems.length === 0) throw badInputError(`${o.data}: no problem fits the models' context (max_position_embeddings ${contextOf(expert, amateur)}) with --max-new-tokens ${o.maxNewTokens}`, o.data);
        }
        const bar = progress(!o.quiet);
        const summary = await runSampling({
          fs, expert, amateur, problems, out, resume: o.resume, shard, signal: controller.signal, settings,
          identity: { expert: { source: o.expert, fingerprint: ef }, amateur: { source: o.amateur, fingerprint: af }, data, backend: backends[0].info.kind },
          onEvent: bar.event,
        });
        bar.done();
        output.result([`wrote ${summary.selected_steps} samples from ${summary.problems} problems to ${out} (summary: ${summaryPath(out)})`, ...formatDiagnostics(summary.diagnostics)], summary);
      } catch (e) {
        if (e instanceof LightReasonerError && e.code === 'ABORTED') {
          throw new LightReasonerError('ABORTED', `interrupted: committed problems are kept in ${out} (${statePath(out)}); run the same command with --resume to continue`);
        }
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
        for (const b of backends) b.destroy();
      }
    });
}

/** A finished shard's summary when `out` holds one for these options, else null (see finishedSampling). */
async function finishedShard(out: string, settings: SampleSettings, ids: Omit<RunIdentity, 'backend'>, backend: string | null, shard: ShardInfo) {
  const fs = nodePlatform.fs;
  const state = await readSamplingState(fs, out);
  if (!state) return null;
  return finishedSampling(fs, { out, settings, problems: shard.problems, shard, identity: { ...ids, backend: backend ?? state.identity.backend } });
}

/** A redrawn bar on a TTY; otherwise a plain line at most every 10 s; nothing when disabled. */
function progress(enabled: boolean) {
  const tty = enabled && process.stderr.isTTY;
  let total = 0, done = 0, samples = 0, tokens = 0, seconds = 0, startDone = 0, lastLine = 0, batchTokens = 0;
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
      if (tty) {
        const width = 24, filled = total ? Math.round((width * done) / total) : 0;
        process.stderr.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${render()}`);
      } else if (e.status === 'committed' && (performance.now() - lastLine > 10_000 || done === total)) {
        lastLine = performance.now();
        process.stderr.write(`${render()}\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}
