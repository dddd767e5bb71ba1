// `lightreasoner-wasm finetune`: LightReasoner stage 2 (LoRA on the soft labels). The work is
// runtime/train/finetune.ts, run as the finetune job (runtime/engine/jobs.ts) an app's Engine runs;
// this file parses options, checks paths and draws progress.
import { statSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import { finetuneJob } from '../../runtime/engine/jobs.ts';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { DEFAULT_FINETUNE, type FinetuneEvent } from '../../runtime/train/finetune.ts';
import { OBJECTIVES, type Objective } from '../../runtime/train/data.ts';
import { LORA_TARGETS } from '../../runtime/train/lora.ts';
import { addQuantizeOptions, backendOption, intOption, numberOption, requireModelDir, targetsOption } from '../io.ts';
import { addOutputOptions, commandOutput } from '../output.ts';
import { interruptOnSignals, progressRenderer } from '../progress.ts';
import { resolveModelOption } from '../resolve.ts';

const HELP = `
Input: JSONL samples from \`lightreasoner-wasm sample\` ({question, prefix_token_ids, token_ids,
weights, ...}); the input is the expert's chat template of [system, user: question] + the exact
prefix ids. The reference scripts' format ({prompt_id: question, prefix: text, token_ids,
weights}) is accepted by re-tokenizing, with a warning.
Loss: KL(soft label ‖ softmax(logits)) at each sample's last prefix position, mean over the
samples of an optimizer step (batch-size × grad-accum). AdamW (0.9, 0.999, eps 1e-8, wd 0),
linear decay to 0, clipping at 1.0. The samples of one trajectory share one forward/backward.
Shuffling is seeded with our own generator (the order differs from torch's RandomSampler).
Output in --out: adapter_config.json + adapter_model.safetensors (PEFT), checkpoint-<step>/,
train_log.jsonl, train_summary.json. An interrupted run continues exactly with --resume.

--objective sft (the paper's rejection-sampling SFT baseline): the input is one JSONL line per
problem {question, output_token_ids | output, answer?} — the expert's trajectory as exact ids, or
as text (\`eval --out\` records work; pass the prompt's --system). A trajectory is dropped when its
extracted final answer is wrong ("correct": false, or a gold "answer"/"solution"/"gold" it misses).
Loss: cross-entropy at every position of the kept trajectories (one-hot labels, same engine).
--batch-size then counts trajectories: a step trains on batch-size × grad-accum trajectories'
worth of positions (their mean length), each trajectory in one forward; the trajectories are in a
seeded order, the same every epoch. tuned_tokens counts the positions trained on.`;

function objectiveOption(value: string): Objective {
  if (!(OBJECTIVES as readonly string[]).includes(value)) throw new InvalidArgumentError(`choose one of ${OBJECTIVES.join(', ')} (got "${value}")`);
  return value as Objective;
}

export function registerFinetune(program: Command): void {
  const command = addFinetuneOptions(
    program.command('finetune').description('LightReasoner stage 2: LoRA fine-tuning of the expert on the contrastive soft labels'),
  ).addHelpText('after', HELP);
  addOutputOptions(addQuantizeOptions(command), 'the training summary (train_summary.json)').action(runFinetune);
}

/** The model, data, LoRA, optimizer and run options of `finetune`, in help order. */
function addFinetuneOptions(command: Command): Command {
  const d = DEFAULT_FINETUNE;
  return command
    .requiredOption('--model <dir>', 'expert model directory (the model to be taught)')
    .requiredOption('--samples <file>', 'samples JSONL (from `sample`); with --objective sft, expert trajectories JSONL')
    .requiredOption('--out <dir>', 'output directory (adapter, checkpoints, logs)')
    .addOption(
      new Option('--objective <kind>', 'kl: LightReasoner soft labels; sft: cross-entropy on whole expert trajectories (baseline)')
        .argParser(objectiveOption)
        .default(d.objective),
    )
    .option('--lora-r <n>', 'LoRA rank', intOption('--lora-r', 1), d.lora.r)
    .option('--lora-alpha <x>', 'LoRA alpha (scaling = alpha / r)', numberOption('--lora-alpha', 1e-9, Number.MAX_VALUE), d.lora.alpha)
    .option('--lora-dropout <p>', 'dropout on the LoRA input', numberOption('--lora-dropout', 0, 1, true), d.lora.dropout)
    .option('--target-modules <list>', `comma-separated, from ${LORA_TARGETS.join(',')}`, targetsOption, [...d.lora.targetModules])
    .option('--lr <x>', 'peak learning rate (linear decay to 0)', numberOption('--lr', 1e-12, 10), d.lr)
    .option('--batch-size <n>', 'samples per micro-batch', intOption('--batch-size', 1), d.batchSize)
    .option('--grad-accum <n>', 'micro-batches per optimizer step', intOption('--grad-accum', 1), d.gradAccum)
    .option('--max-steps <n>', 'optimizer steps', intOption('--max-steps', 1), d.maxSteps)
    .option('--save-steps <n>', 'checkpoint every N steps (0: never)', intOption('--save-steps', 0), d.saveSteps)
    .option('--seed <n>', 'seed of LoRA init, shuffling and dropout', intOption('--seed', 0), d.seed)
    .option('--system <text>', 'system message of the prompt (as in sampling)', d.system)
    .option('--max-rows <n>', 'tokens per forward/backward call at most (memory; default from the model size)', intOption('--max-rows', 1))
    .option('--no-pack', "one forward per sample instead of one per trajectory (the reference scripts' way; same result, more work)")
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'))
    .option('--threads <n>', 'Wasm: threads (default: all cores)', intOption('--threads', 1))
    .option('--resume', 'continue from the latest checkpoint in --out')
    .option('--overwrite', "start afresh in a non-empty --out: replace this command's files there (others are kept)")
    .option(
      '--base-model-name <name>',
      "adapter_config.json's base_model_name_or_path (default: the Hub id of a Hub model, with its commit as revision; else the model directory's name)",
    );
}

async function runFinetune(o: OptionValues): Promise<void> {
  const fs = nodePlatform.fs;
  const output = commandOutput(o);
  const log = output.progress;
  if (!(await fs.exists(o.samples))) throw badInputError(`--samples ${o.samples}: no such file`);
  await resolveModelOption(o, 'model');
  await requireModelDir(fs, '--model', o.model);
  // Checked now, not at the first write after a step of training.
  if ((await fs.exists(o.out)) && !statSync(o.out).isDirectory())
    throw badInputError(`--out ${o.out}: exists and is a file, not a directory; choose another --out`, o.out);
  const interrupt = interruptOnSignals(log);
  try {
    const bar = progress(!o.quiet);
    // The same job an app's Engine runs (runtime/engine/jobs.ts): it reads the samples and opens the model.
    const summary = await finetuneJob(
      { platform: nodePlatform, signal: interrupt.signal },
      {
        model: o.model,
        samples: o.samples,
        out: o.out,
        resume: o.resume,
        overwrite: o.overwrite,
        baseModelName: o.baseModelName,
        backend: o.backend,
        threads: o.threads,
        quantize: o.quantize,
        settings: {
          lora: { r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targetModules: o.targetModules },
          lr: o.lr,
          batchSize: o.batchSize,
          gradAccum: o.gradAccum,
          maxSteps: o.maxSteps,
          saveSteps: o.saveSteps,
          seed: o.seed,
          system: o.system,
          packed: o.pack,
          maxRowsPerPass: o.maxRows ?? 0,
          objective: o.objective,
        },
      },
      bar.event,
      output.warn,
    );
    bar.done();
    output.result(
      `wrote the adapter to ${o.out} (${summary.steps} steps, final loss ${summary.final_loss.toFixed(4)}, ${summary.packing_ratio.toFixed(1)}× fewer tokens than one forward per sample)`,
      summary,
    );
  } catch (e) {
    if (e instanceof LightReasonerError && e.code === 'ABORTED') {
      throw new LightReasonerError('ABORTED', `interrupted: run the same command with --resume to continue from the latest checkpoint in ${o.out}`);
    }
    throw e;
  } finally {
    interrupt.dispose();
  }
}

/** Step, loss, rate: a bar on a TTY; a line at most every 10 s (and the last step) when piped. */
function progress(enabled: boolean) {
  const r = progressRenderer(enabled);
  return {
    event(e: FinetuneEvent) {
      if (!enabled) return;
      if (e.status === 'start' && e.resumedFrom) r.line(`resuming from ${e.resumedFrom} (step ${e.step})`);
      if (e.status === 'checkpoint' && !r.tty) r.line(`saved ${e.dir}`);
      if (e.status !== 'step') return;
      const text = `step ${e.step}/${e.maxSteps} · loss ${e.loss.toFixed(4)} · lr ${e.lr.toExponential(2)} · |g| ${e.grad_norm.toFixed(3)} · ${e.samples_per_s.toFixed(1)} samples/s · ${e.tokens_per_s.toFixed(0)} tok/s`;
      r.show(text, { fraction: e.step / e.maxSteps, piped: true, final: e.step === e.maxSteps });
    },
    done: r.done,
  };
}
