// `eval --benchmark NAME[,NAME…]`: the paper's benchmarks by the Qwen2.5-Math toolkit's names. The
// work is the benchmark job (runtime/engine/benchmark-job.ts, the Engine's `benchmark`); this file
// reads each benchmark's data (the Hub ids in runtime/eval/benchmarks.ts, or --data for one
// benchmark, or NAME=DATA), calls the job and draws its progress. Called by eval.ts; run.ts reads
// the data the same way for run --eval-benchmarks (benchmarkData) and draws with benchmarkProgress.
import { type BenchmarkData, benchmarkJob, benchmarkSpecsOf, type BenchmarkJobEvent, type BenchmarkJobResult } from '../../runtime/engine/benchmark-job.ts';
import { badInputError } from '../../runtime/errors.ts';
import { parseBenchmarkProblems } from '../../runtime/eval/benchmarks.ts';
import type { PromptType } from '../../runtime/eval/evaluate.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { sha256Hex } from '../../runtime/stage/fingerprint.ts';
import { requireModelDir } from '../io.ts';
import type { CommandOutput } from '../output.ts';
import { interruptOnSignals, progressLine } from '../progress.ts';
import { readDataOption, resolveModelOption } from '../resolve.ts';

/** `--benchmark` entries: NAME or NAME=DATA (a file or hf://… for that benchmark instead of its default data set). */
function benchmarkEntries(list: string): { name: string; data?: string }[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((e) => {
      const at = e.indexOf('=');
      return at < 0 ? { name: e } : { name: e.slice(0, at), data: e.slice(at + 1) };
    });
}

/**
 * Each benchmark's problems from its data (NAME=DATA, else `data` for a single benchmark, else the
 * benchmark's Hub data sets, read in order and joined), with the data text's digest as its identity.
 */
export async function benchmarkData(list: string, o: { data?: string; maxQuestions?: number; quiet?: boolean }): Promise<BenchmarkData[]> {
  const entries = benchmarkEntries(list);
  const specs = benchmarkSpecsOf(entries.map((e) => e.name)); // before any download
  if (specs.length > 1 && o.data !== undefined)
    throw badInputError(
      "--data gives one benchmark's problems: with several --benchmark names each is read from its Hub data set (or run one benchmark at a time with --data)",
    );
  const out: BenchmarkData[] = [];
  for (const [i, spec] of specs.entries()) {
    const data = entries[i].data ?? o.data;
    const texts: string[] = [];
    for (const src of data !== undefined ? [data] : spec.data) texts.push((await readDataOption('--data', src, 'test', !!o.quiet)).text.trimEnd());
    const text = texts.join('\n') + '\n';
    let problems = parseBenchmarkProblems(text, spec.name, data ?? spec.data.join(' + '));
    if (o.maxQuestions !== undefined) problems = problems.slice(0, o.maxQuestions);
    out.push({ name: spec.name, problems, dataDigest: await sha256Hex(new TextEncoder().encode(text)) });
  }
  return out;
}

/** The benchmark job's progress: a redrawn line (loading, problems) on a TTY; each written file as a note; warnings always. */
export function benchmarkProgress(output: CommandOutput) {
  const bar = progressLine(!output.quiet);
  return {
    event(e: BenchmarkJobEvent) {
      if (e.status === 'warning') {
        bar.done();
        output.warn(e.message);
      } else if (e.status === 'loading') bar.update(`loading ${Math.round((100 * e.loaded) / e.total)}%`);
      else if (e.status === 'benchmark') {
        if (e.event.status === 'problem') bar.update(`${e.title}: ${e.event.done}/${e.event.total} problems · ${e.event.correct} correct`);
      } else {
        bar.done();
        if (e.status === 'written') output.progress(`wrote ${e.records} ${e.title} results to ${e.out} (summary: ${e.summary})`);
        else output.progress(`wrote the table to ${e.out} and table.json`);
      }
    },
    done: bar.done,
  };
}

/** eval --benchmark: the options as a benchmark job; the result is the table (text, or the --json document). */
export async function evalBenchmarks(o: Record<string, any>, output: CommandOutput): Promise<BenchmarkJobResult> {
  if (o.shard !== undefined) throw badInputError('--shard is not supported with --benchmark: evaluate each benchmark (one --benchmark name) as its own job');
  const benchmarks = await benchmarkData(String(o.benchmark), o);
  await resolveModelOption(o, 'model');
  await requireModelDir(nodePlatform.fs, '--model', o.model);
  const interrupt = interruptOnSignals(output.progress);
  const bar = benchmarkProgress(output);
  try {
    return await benchmarkJob(
      { platform: nodePlatform, signal: interrupt.signal },
      {
        model: o.model,
        adapter: o.adapter,
        benchmarks,
        out: o.out,
        pairedWith: o.pairedWith,
        overwrite: o.overwrite,
        skipInvalid: o.skipInvalid === true,
        settings: { prompt: o.prompt as PromptType, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize },
        backend: o.backend,
        threads: o.threads,
        quantize: o.quantize,
      },
      bar.event,
    );
  } finally {
    bar.done();
    interrupt.dispose();
  }
}
