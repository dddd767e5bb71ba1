// `eval --benchmark NAME[,NAME…]`: the paper's benchmarks by the Qwen2.5-Math toolkit's names —
// each benchmark's data (the Hub ids in runtime/eval/benchmarks.ts, or --data for one benchmark),
// its question format and gold field, its grading — then the paper's table (per benchmark + Avg.)
// as the result (cli/output.ts: stdout, or one JSON document with --json), with 95 % intervals and,
// with --paired-with, the paired test per benchmark. Called by eval.ts, which passes its helpers in
// (no import circle), and by run.ts (run --eval-benchmarks); the caller prints the result.
import { dirname, join } from 'node:path';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { benchmarkSpec, type BenchmarkSpec, gradeBenchmarkOutput, parseBenchmarkProblems } from '../../runtime/eval/benchmarks.ts';
import { evaluate, type EvalProblem, type PromptType } from '../../runtime/eval/evaluate.ts';
import { type EvalIdentity, type EvalRunSummary, evalSummaryPath, writeEvalResults } from '../../runtime/eval/results.ts';
import { benchmarkResult, type BenchmarkResult, benchmarkTable, formatBenchmarkTable } from '../../runtime/eval/table.ts';
import { claimOutFile } from '../../runtime/io/out-dir.ts';
import type { CausalLM } from '../../runtime/model/model.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { openModel } from '../../runtime/session.ts';
import { loadAdapter } from '../../runtime/train/peft.ts';
import { interruptOnSignals, progressLine } from '../progress.ts';
import type { CommandOutput } from '../output.ts';
import { readDataOption, resolveModelOption } from '../resolve.ts';

export interface EvalHelpers {
  evalIds(model: string, adapter: string | undefined, dataText: string): Promise<Omit<EvalIdentity, 'backend'>>;
  readBaseRecords(file: string, problems: { id: string }[]): Promise<{ id: string; correct: boolean }[]>;
}

interface Planned {
  spec: BenchmarkSpec;
  problems: EvalProblem[];
  text: string;
  out?: string;
  base?: string;
}

/** Where each benchmark's results go: --out is the file for one benchmark, a directory for several. */
function plan(specs: BenchmarkSpec[], o: { out?: string; pairedWith?: string }, directory: boolean): { out?: string; base?: string }[] {
  if (specs.length === 1 && !directory) return [{ out: o.out, base: o.pairedWith }];
  return specs.map((s) => ({ out: o.out === undefined ? undefined : join(o.out, `${s.name}.jsonl`), base: o.pairedWith === undefined ? undefined : join(o.pairedWith, `${s.name}.jsonl`) }));
}

async function loadBenchmark(spec: BenchmarkSpec, data: string | undefined, quiet: boolean, maxQuestions?: number): Promise<{ problems: EvalProblem[]; text: string }> {
  const sources = data !== undefined ? [data] : spec.data;
  const texts: string[] = [];
  for (const src of sources) texts.push((await readDataOption('--data', src, 'test', quiet)).text.trimEnd());
  const text = texts.join('\n') + '\n';
  let problems = parseBenchmarkProblems(text, spec.name, data ?? spec.data.join(' + '));
  if (maxQuestions !== undefined) problems = problems.slice(0, maxQuestions);
  return { problems, text };
}

/** The result of evalBenchmarks: the table as text (the human result) and as the --json document. */
export interface BenchmarksResult {
  text: string;
  json: Record<string, unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
/** Progress and notes go to `output`; `directory`: --out and --paired-with are directories even for one benchmark (run's use). */
export async function evalBenchmarks(o: any, helpers: EvalHelpers, output: CommandOutput, opts: { directory?: boolean } = {}): Promise<BenchmarksResult> {
  const fs = nodePlatform.fs;
  // NAME or NAME=DATA (a file or hf://… for that benchmark instead of its default data set).
  const entries = String(o.benchmark).split(',').map((s) => s.trim()).filter(Boolean).map((e) => {
    const at = e.indexOf('=');
    return at < 0 ? { name: e, data: undefined } : { name: e.slice(0, at), data: e.slice(at + 1) };
  });
  const names = entries.map((e) => e.name);
  if (new Set(names).size !== names.length) throw badInputError(`--benchmark ${o.benchmark}: a benchmark is named twice`);
  const specs = names.map(benchmarkSpec);
  if (specs.length === 0) throw badInputError('--benchmark: name at least one benchmark');
  if (specs.length > 1 && o.data !== undefined) throw badInputError('--data gives one benchmark\'s problems: with several --benchmark names each is read from its Hub data set (or run one benchmark at a time with --data)');
  if (o.shard !== undefined) throw badInputError('--shard is not supported with --benchmark: evaluate each benchmark (one --benchmark name) as its own job');
  const directory = opts.directory === true || specs.length > 1;
  const places = plan(specs, o, directory);
  for (const p of places) if (p.out !== undefined) await claimOutFile(fs, p.out, { overwrite: o.overwrite });
  const planned: Planned[] = [];
  for (const [i, spec] of specs.entries()) planned.push({ spec, ...(await loadBenchmark(spec, entries[i].data ?? o.data, output.quiet, o.maxQuestions)), ...places[i] });
  await resolveModelOption(o, 'model');
  if (!(await fs.exists(fs.join(o.model, 'config.json')))) throw badInputError(`--model ${o.model}: not a model directory (no config.json)`);
  const bases = new Map<string, { id: string; correct: boolean }[]>();
  for (const p of planned) if (p.base !== undefined) bases.set(p.spec.name, await helpers.readBaseRecords(p.base, p.problems));
  const log = output.progress;
  const interrupt = interruptOnSignals(log);
  const bar = progressLine(!output.quiet);
  let model: CausalLM | null = null;
  const rows: BenchmarkResult[] = [];
  try {
    model = await openModel(o.model, { platform: nodePlatform, backend: o.backend, quantize: o.quantize, signal: interrupt.signal, onProgress: (p) => bar.update(`loading ${Math.round((100 * p.loaded) / p.total)}%`) });
    bar.done();
    if (o.adapter !== undefined) model.adapter = await loadAdapter(fs, o.adapter, model);
    for (const p of planned) {
      const name = p.spec.name;
      const { records, summary } = await evaluate(model, p.problems, {
        prompt: o.prompt as PromptType, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize, signal: interrupt.signal, skipTooLong: o.skipInvalid === true, file: p.spec.title,
        grader: (output, gold) => gradeBenchmarkOutput(output, gold, name),
        onEvent: (e) => {
          if (e.status === 'problem') bar.update(`${p.spec.title}: ${e.done}/${e.total} problems · ${e.correct} correct`);
        },
      });
      bar.done();
      if (p.out !== undefined) {
        const ids = await helpers.evalIds(o.model, o.adapter, p.text);
        await fs.mkdir?.(dirname(p.out));
        const settings = { prompt: o.prompt as PromptType, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize, benchmark: name };
        const run: EvalRunSummary = { kind: 'eval', output: p.out, ...summary, settings, identity: { ...ids, backend: model.backend.info.kind } };
        await writeEvalResults(fs, p.out, records, run);
        log(`wrote ${records.length} ${p.spec.title} results to ${p.out} (summary: ${evalSummaryPath(p.out)})`);
      }
      rows.push(benchmarkResult(name, p.spec.title, records, bases.get(name)));
    }
  } catch (e) {
    bar.done();
    if (e instanceof LightReasonerError && e.code === 'ABORTED') throw new LightReasonerError('ABORTED', 'interrupted: no results written for the unfinished benchmark');
    throw e;
  } finally {
    interrupt.dispose();
    model?.dispose();
  }
  const table = benchmarkTable(rows);
  const text = formatBenchmarkTable(table, { model: o.adapter ?? o.model, baseline: o.pairedWith });
  if (directory && o.out !== undefined) {
    await fs.writeFileAtomic!(join(o.out, 'table.md'), text);
    await fs.writeFileAtomic!(join(o.out, 'table.json'), JSON.stringify(table, null, 2) + '\n');
    log(`wrote the table to ${join(o.out, 'table.md')} and table.json`);
  }
  return { text, json: { ...table, model: o.model, adapter: o.adapter ?? null, ...(o.pairedWith ? { paired_with: o.pairedWith } : {}) } };
}
