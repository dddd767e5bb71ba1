// `lightreasoner-wasm eval`: zero-shot pass@1 on a JSONL problem file (GSM8K format), the way the
// paper evaluates (Qwen2.5-Math toolkit prompt, greedy decoding, its answer extraction); and
// `lightreasoner-wasm problems`: write generated arithmetic word problems (runtime/data/problems.ts).
// `eval` runs the evaluate job (runtime/engine/jobs.ts evaluateJob) an app's Engine runs too.
import { dirname } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CUE_VARIANTS, cueProblemsToJsonl, generateCueProblems } from '../../runtime/data/cue-problems.ts';
import { defaultMixJsonl } from '../../runtime/data/default-mix.ts';
import { generateProblems, PROBLEM_SETS, type ProblemSet, problemsToJsonl, SEED_RANGES } from '../../runtime/data/problems.ts';
import { evaluateJob, type EvaluateJobResult } from '../../runtime/engine/jobs.ts';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { formatAccuracy, formatP, pairedComparison } from '../../runtime/eval/stats.ts';
import {
  DEFAULT_EVAL,
  type EvalProblem,
  type EvalSummary,
  parseEvalProblems,
  PROMPT_TYPES,
  type PromptType,
  QWEN25_MATH_COT_SYSTEM,
} from '../../runtime/eval/evaluate.ts';
import { hubRevisionOf } from '../../runtime/hub/ids.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { addQuantizeOptions, backendOption, intOption, requireModelDir } from '../io.ts';
import { addOutputOptions, type CommandOutput, commandOutput } from '../output.ts';
import { interruptOnSignals, progressRenderer } from '../progress.ts';
import { readDataOption, resolveModelOption } from '../resolve.ts';
import { claimOutFile } from '../../runtime/io/out-dir.ts';
import { type EvalRunSummary, type EvalSettings, evalSummaryPath } from '../../runtime/eval/results.ts';
import { claimEvalOut, evalJournalPath } from '../../runtime/eval/journal.ts';
import { parseShard, type ShardInfo, shardPath, takeShard } from '../../runtime/shard/shard.ts';
import { BENCHMARK_NAMES } from '../../runtime/eval/benchmarks.ts';
import { evalBenchmarks } from './eval-benchmarks.ts';
import { sha256Hex } from '../../runtime/stage/fingerprint.ts';
import { readBaseRecords } from '../../runtime/eval/baseline.ts';

function choice<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${name}: choose one of ${choices.join(', ')} (got "${value}")`);
    return value as T;
  };
}

const EVAL_HELP = `
Input: JSONL, one problem a line: "question" (string), the gold answer as GSM8K's "answer"
("…\\n#### 72"), a plain "answer" (string or number) or a MATH-style "solution" with \\boxed{};
optional "id" (else the 0-based line index). GSM8K's test.jsonl works as downloaded.

Prompt qwen25-math-cot (the default): system "${QWEN25_MATH_COT_SYSTEM}"
+ the question as the user message, in the model's chat template; plain: the question alone as the user message. Greedy decoding.
Answer: the last \\boxed{…}, else "the answer is …", else the last number; graded numerically
(relative tolerance 1e-4; $, %, units, thousands separators and simple fractions handled).

Output (--out): one JSONL line per problem {id, question, output, extracted, gold, correct,
method, finish, generated_tokens}, written atomically when the run ends, and OUT.summary.json
beside it (the accuracy, settings, and the model's and data's fingerprints). While it runs,
OUT.partial holds each finished batch of problems: after an interruption (Ctrl-C, a kill) the same
command with --resume keeps them and decodes the rest, giving the uninterrupted run's bytes; a
resume with other settings, model or data is refused, naming what differs.
A prompt that cannot fit the model's context with --max-new-tokens is an error naming its line
and id; with --skip-invalid it is not decoded and counts as wrong (accuracy stays over all the
problems, so skipping never raises it), its record has "skipped", and the summary counts them.

Shards (job arrays): --shard I/N (0-based), auto or auto/N, as for sample: shard I evaluates a
contiguous block of whole batches into OUT's shard file (S.jsonl → S.shard-0000I-of-0000N.jsonl
and its .summary.json); a finished shard run again is skipped (with --overwrite: evaluated
again), an unfinished one starts over.
\`lightreasoner-wasm gather OUT\` then writes OUT and its summary as one run would.

Benchmarks (--benchmark ${BENCHMARK_NAMES.join(',')}): each from its Hub data set (README
"Benchmarks" lists the ids; --data FILE for one benchmark instead), the toolkit's question format,
gold field and grading (see \`lightreasoner-wasm grade --help\`); with several names, --out DIR gets
NAME.jsonl per benchmark + table.md/table.json, and --paired-with DIR reads the baseline's NAME.jsonl.
NAME=DATA reads that benchmark from DATA (a file or hf://…) instead: --benchmark gsm8k=test.jsonl,math.

The accuracy comes with its 95% Wilson interval. --paired-with BASE.jsonl (an earlier --out on the
same problems) adds the paired comparison: fixed (wrong there, right here), broken (the reverse)
and the exact two-sided McNemar p-value.`;

function plainSummary(s: EvalRunSummary): EvalSummary {
  const { total, correct, accuracy, ci95, seconds, generated_tokens, prompt, max_new_tokens, skipped } = s;
  return { total, correct, accuracy, ci95, seconds, generated_tokens, prompt, max_new_tokens, skipped };
}

export function registerEval(program: Command): void {
  const evalCommand = program
    .command('eval')
    .description('zero-shot accuracy on math word problems (greedy, Qwen2.5-Math toolkit prompt and grading)')
    .requiredOption('--model <dir>', 'model directory (config.json, *.safetensors, tokenizer.json)')
    .option('--adapter <dir>', 'apply a LoRA adapter (PEFT format: adapter_config.json + adapter_model.safetensors) without merging')
    .option('--data <file>', "problems, JSONL (GSM8K format); with --benchmark: that benchmark's data set (a file or hf://…) instead of its default")
    .option(
      '--benchmark <names>',
      `the paper's benchmarks by name, comma-separated (${BENCHMARK_NAMES.join(', ')}): their data, prompt and grading; several → the paper's table (--out is then a directory)`,
    )
    .option('--max-questions <n>', 'use the first N problems', intOption('--max-questions', 1))
    .option('--max-new-tokens <n>', 'tokens to generate per problem at most', intOption('--max-new-tokens', 1), DEFAULT_EVAL.maxNewTokens)
    .addOption(new Option('--prompt <type>', 'prompt type').argParser(choice('--prompt', PROMPT_TYPES)).default(DEFAULT_EVAL.prompt))
    .option('--batch-size <n>', 'problems decoded together', intOption('--batch-size', 1), DEFAULT_EVAL.batchSize)
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'))
    .option('--threads <n>', 'Wasm: threads (default: all cores)', intOption('--threads', 1))
    .option('--out <file>', 'per-problem results, JSONL (an existing file is refused without --overwrite)')
    .option('--overwrite', 'replace an existing --out file')
    .option('--resume', 'continue an interrupted evaluation into --out: its finished problems are kept')
    .option('--shard <I/N|auto|auto/N>', 'evaluate one shard of the problems (needs --out; see below)')
    .option('--paired-with <file>', "another model's --out results on the same problems (e.g. the base model's): print the paired test against them")
    .option('--skip-invalid', "don't decode problems whose prompt + --max-new-tokens exceeds the model's context: they count as wrong (and are listed)")
    .addHelpText('after', EVAL_HELP);
  addOutputOptions(addQuantizeOptions(evalCommand), 'the summary {total, correct, accuracy, ci95, seconds, model, data, …}').action((o) =>
    evalCommandAction(o),
  );
  registerProblems(program);
}

type EvalOptions = Record<string, any>;

/** `eval`'s action: --benchmark as the benchmark job; else the problems of --data as the evaluate job. */
async function evalCommandAction(o: EvalOptions): Promise<void> {
  const output = commandOutput(o);
  if (o.benchmark !== undefined) {
    const { text, json } = await evalBenchmarks(o, output);
    return output.result(text, json);
  }
  const input = await evalInput(o);
  const interrupt = interruptOnSignals(output.progress);
  const bar = progressRenderer(!o.quiet);
  try {
    const base = o.pairedWith === undefined ? null : await readBaseRecords(nodePlatform.fs, o.pairedWith, input.problems);
    const t0 = performance.now();
    bar.mark(); // the first piped line comes 10 s after the start
    let finishedBefore = false;
    // The same job an app's Engine runs (runtime/engine/jobs.ts): it skips a finished shard, opens
    // the model and adapter, and with --out journals the records as batches finish (resumable).
    const result = await evaluateJob(
      { platform: nodePlatform, signal: interrupt.signal },
      {
        model: o.model,
        adapter: o.adapter,
        problems: input.problems,
        settings: input.settings,
        out: input.out,
        resume: o.resume === true,
        overwrite: o.overwrite,
        shard: input.shard,
        backend: o.backend,
        threads: o.threads,
        quantize: o.quantize,
        skipInvalid: o.skipInvalid === true,
        source: o.data,
        dataDigest: input.out === undefined ? undefined : await sha256Hex(new TextEncoder().encode(input.data.text)),
      },
      (e) => {
        if (e.status === 'warning') output.warn(e.message);
        else if (e.status === 'already-finished') finishedBefore = true;
        else if (o.quiet) return;
        else if (e.status === 'loading') bar.show(`loading ${Math.round((100 * e.loaded) / e.total)}%`);
        else if (e.status === 'step')
          bar.show(`${e.done}/${e.total} problems · ${e.generated} tokens · ${(e.generated / ((performance.now() - t0) / 1000)).toFixed(1)} tok/s`);
        else if (e.status === 'problem') bar.show(`${e.done}/${e.total} problems · ${e.correct} correct`, { piped: true, final: e.done === e.total });
      },
    );
    bar.done();
    printEvalResult(o, output, input, result, base, finishedBefore);
  } catch (e) {
    bar.done();
    if (e instanceof LightReasonerError && e.code === 'ABORTED') {
      throw new LightReasonerError(
        'ABORTED',
        input.out === undefined
          ? 'interrupted: no results written'
          : `interrupted: finished problems are kept in ${evalJournalPath(input.out)}; run the same command with --resume to continue`,
      );
    }
    throw e;
  } finally {
    interrupt.dispose();
  }
}

interface EvalInput {
  problems: EvalProblem[];
  data: Awaited<ReturnType<typeof readDataOption>>;
  out?: string;
  shard?: ShardInfo;
  settings: EvalSettings;
}

/** eval's problems, output file and shard, checked before hours of decoding (not after). */
async function evalInput(o: EvalOptions): Promise<EvalInput> {
  if (o.data === undefined) throw badInputError("give --data FILE (problems) or --benchmark NAME (the paper's benchmarks)");
  const fs = nodePlatform.fs;
  const shardOf = o.shard === undefined ? null : parseShard(o.shard, process.env);
  if (shardOf && o.out === undefined) throw badInputError('--shard needs --out (the shard writes its part of that file)');
  if (shardOf && o.pairedWith !== undefined) throw badInputError('--paired-with compares whole runs: gather the shards first, then compare the gathered files');
  const out: string | undefined = shardOf ? shardPath(o.out, shardOf) : o.out;
  // A shard's file is its own (a finished one is skipped by the job).
  if (o.resume && out === undefined) throw badInputError('--resume needs --out (the evaluation to continue)');
  if (out !== undefined && !shardOf) await claimEvalOut(fs, out, { resume: o.resume, overwrite: o.overwrite });
  const data = await readDataOption('--data', o.data, 'test', o.quiet);
  let problems = parseEvalProblems(data.text, { file: o.data });
  await resolveModelOption(o, 'model');
  if (o.maxQuestions !== undefined) problems = problems.slice(0, o.maxQuestions);
  let shard: ShardInfo | undefined;
  if (shardOf) ({ info: shard, problems } = takeShard(problems, o.batchSize, shardOf));
  await requireModelDir(fs, '--model', o.model);
  if (o.adapter !== undefined && !(await fs.exists(o.adapter))) throw badInputError(`--adapter ${o.adapter}: no such directory`);
  return { problems, data, out, shard, settings: { prompt: o.prompt as PromptType, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize } };
}

/** eval's result: the accuracy (and the paired test), or that the shard was already finished. */
function printEvalResult(
  o: EvalOptions,
  output: CommandOutput,
  input: EvalInput,
  result: EvaluateJobResult,
  base: { id: string; correct: boolean }[] | null,
  finishedBefore: boolean,
): void {
  const out = input.out;
  if (finishedBefore) {
    const done = result.summary as EvalRunSummary;
    output.result(`shard ${input.shard!.index}/${input.shard!.count}: ${out} is already finished (${done.correct}/${done.total} correct); skipped`, done);
    return;
  }
  const records = result.records;
  // The printed summary is the plain one either way (the written one adds what produced it).
  const summary = out !== undefined ? plainSummary(result.summary as EvalRunSummary) : result.summary;
  if (result.resumed)
    output.progress(`resumed: ${result.resumed} of ${records.length} problems were finished before${result.finished ? ' (the evaluation had finished)' : ''}`);
  if (out !== undefined) output.progress(`wrote ${records.length} results to ${out} (summary: ${evalSummaryPath(out)})`);
  const paired = base ? pairedComparison(base, records) : undefined;
  output.result(
    [
      `accuracy ${formatAccuracy(summary.accuracy, summary.ci95)} (${summary.correct}/${summary.total}; 95% Wilson interval) in ${summary.seconds.toFixed(1)} s`,
      ...(paired ? [`against ${o.pairedWith}: fixed ${paired.fixed}, broken ${paired.broken}, exact McNemar ${formatP(paired.p_value)}`] : []),
    ],
    {
      ...summary,
      model: o.model,
      model_hub: hubRevisionOf(o.model),
      adapter: o.adapter ?? null,
      data: o.data,
      data_hub: input.data.hub,
      ...(paired ? { paired_with: o.pairedWith, paired } : {}),
    },
  );
}

function registerProblems(program: Command): void {
  const problemsCommand = program
    .command('problems')
    .description('write generated multi-step arithmetic word problems with worked solutions (GSM8K format)')
    .requiredOption('--count <n>', 'number of problems', intOption('--count', 1))
    .option('--seed <n>', "offset in the set's seed range", intOption('--seed', 0), 0)
    .addOption(new Option('--set <name>', 'problem set: questions of different sets never coincide').argParser(choice('--set', PROBLEM_SETS)).default('eval'))
    .option('--min-steps <n>', 'fewest solution steps (1–4)', intOption('--min-steps', 1), 1)
    .option('--max-steps <n>', 'most solution steps (1–4)', intOption('--max-steps', 1), 4)
    .option('--out <file>', 'JSONL file (else standard output; an existing file is refused without --overwrite)')
    .option('--overwrite', 'replace an existing --out file')
    .addOption(
      new Option(
        '--cues [variant]',
        'shallow-cue problems instead (distractors, keywords, unit traps; easy arithmetic): "misleads" (the cue\'s wrong solution as "cue_answer") or "holds" (following the cue is right)',
      ).argParser(choice('--cues', CUE_VARIANTS)),
    )
    .option('--mix', "the embedded pair's mix instead: a third plain problems, a third cue problems that hold, a third that mislead, each line naming its kind")
    .addHelpText(
      'after',
      `
Each line is {id, question, answer}; the answer is GSM8K-style step lines ending in "#### N".
The same --set/--seed/--count always give the same bytes; the sets pretrain (training the
embedded pair), dev (choosing settings), sample (LightReasoner sampling) and eval (held-out
evaluation, never used to choose anything) never share a question. Seeds are offsets in [0, ${SEED_RANGES.eval.size}).
Without --out the JSONL is the result on stdout (with --json: {set, seed, count, out: null, problems}).`,
    );
  addOutputOptions(problemsCommand, '{set, seed, count, out}').action(async (o) => {
    const output = commandOutput(o);
    if (o.seed >= SEED_RANGES[o.set as ProblemSet].size) throw badInputError(`--seed must be < ${SEED_RANGES[o.set as ProblemSet].size}`);
    if (o.minSteps > 4 || o.maxSteps > 4 || o.minSteps > o.maxSteps)
      throw badInputError(`need 1 ≤ --min-steps ≤ --max-steps ≤ 4 (got ${o.minSteps}, ${o.maxSteps})`);
    if (o.cues && o.mix) throw badInputError('--cues and --mix: choose one');
    const text = o.mix
      ? defaultMixJsonl(o.count, o.set, o.seed)
      : o.cues
        ? cueProblemsToJsonl(generateCueProblems(o.seed, o.count, { set: o.set, variant: o.cues === true ? 'misleads' : o.cues }))
        : problemsToJsonl(generateProblems(o.seed, o.count, { set: o.set, minSteps: o.minSteps, maxSteps: o.maxSteps }));
    const about = { set: o.set, seed: o.seed, count: o.count, out: o.out ?? null };
    if (o.out === undefined) {
      output.result(text, {
        ...about,
        problems: text
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l)),
      }); // the JSONL's rows
      return;
    }
    const fs = nodePlatform.fs;
    await claimOutFile(fs, o.out, { overwrite: o.overwrite });
    await fs.mkdir?.(dirname(o.out));
    await fs.writeFileAtomic!(o.out, text);
    output.result(`wrote ${o.count} ${o.set} problems (seed ${o.seed}) to ${o.out}`, about);
  });
}
