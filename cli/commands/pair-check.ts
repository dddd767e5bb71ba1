// `lightreasoner-wasm pair-check`: before any training, does the pair's contrast point toward right
// answers? Expert greedy vs contrastive decoding (everywhere, and only where LightReasoner selects
// steps) on problems with answers, paired. The work is runtime/eval/pair-check.ts (the Engine's
// pairCheck job); this file parses options, finds the default pair and data, and prints.
import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import { defaultMixJsonl } from '../../runtime/data/default-mix.ts';
import { pairCheckJob } from '../../runtime/engine/jobs.ts';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { parseEvalProblems } from '../../runtime/eval/evaluate.ts';
import { DEFAULT_PAIR_CHECK, type PairCheckEvent } from '../../runtime/eval/pair-check.ts';
import { formatPairCheck } from '../../runtime/eval/pair-check-format.ts';
import { claimOutFile } from '../../runtime/io/out-dir.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { addQuantizeOptions, backendOption, intOption } from '../io.ts';
import { interruptOnSignals, progressRenderer } from '../progress.ts';
import { addOutputOptions, type CommandOutput, commandOutput } from '../output.ts';
import { readDataOption, resolveModelOption } from '../resolve.ts';
import { defaultPairDir } from '../../runtime/platform/node-default-pair.ts';
import { EMBEDDED_DEFAULTS, embeddedSettings } from './run.ts';

/** Generated `dev` problems when no --data is given: enough for a first look in about a minute. */
const PAIR_CHECK_DEFAULT_COUNT = 200;

/** A comma-separated list of numbers in [min, max]. */
function numberListOption(name: string, min: number, max: number) {
  return (value: string): number[] => {
    const list = value.split(',').map((x) => x.trim());
    const nums = list.map(Number);
    if (list.some((x) => x === '') || nums.some((n) => !Number.isFinite(n) || n < min || n > max))
      throw new InvalidArgumentError(`${name} must be numbers in [${min}, ${max}], comma-separated (got "${value}")`);
    return [...new Set(nums)];
  };
}

const HELP = `
Decodes each problem three ways in one batched pass (the variants share a KV slot until their
choices differ): the expert greedily (as \`eval\`); contrastive decoding (CD: the argmax of
log P_E − log P_A over the mask P_E ≥ α · max P_E — the argmax of LightReasoner's soft label);
and CD only at the steps LightReasoner selects (KL(P_E‖P_A) ≥ β), greedy elsewhere — what perfect
fine-tuning toward the labels would decode. Several --alpha / --beta values add variants.
Each CD variant is graded as \`eval\` grades and compared with greedy on the same problems: fixed
(wrong → right), broken, exact McNemar p; where the contrast changed the choice, by kind of token
(a digit the model works out, a number copied from the question, an operator, a word, other).
The verdict: the contrast points toward right answers, away from them, or resolves nothing at this
N (with about how many problems would).

With no --expert/--amateur: the embedded default pair (α and β from models/default/settings.json, 160
new tokens). With no --data: ${PAIR_CHECK_DEFAULT_COUNT} generated "dev" problems (the set for choosing settings; never
the held-out "eval" set). --data: JSONL with "question" and a gold "answer" (as eval).
Output: the table on stdout (--json: one JSON document instead); progress on stderr;
--out FILE.json: the report with every problem's outputs and changes.`;

export function registerPairCheck(program: Command): void {
  const command = addPairCheckOptions(
    program
      .command('pair-check')
      .description("before any training: does the pair's contrast point toward right answers? (greedy vs contrastive decoding, paired)"),
  ).addHelpText('after', HELP);
  addOutputOptions(addQuantizeOptions(command, true), 'the report (as --out, without the per-problem records)').action(runPairCheck);
}

/** The pair, data, decoding and output options of `pair-check`, in help order. */
function addPairCheckOptions(command: Command): Command {
  const d = DEFAULT_PAIR_CHECK;
  return command
    .option('--expert <dir>', 'expert model directory or Hub id (default: the embedded pair)')
    .option('--amateur <dir>', 'amateur model directory or Hub id (same tokenizer)')
    .option('--data <file>', `problems with answers, JSONL (default: ${PAIR_CHECK_DEFAULT_COUNT} generated dev problems)`)
    .option('--count <n>', 'use the first N problems', intOption('--count', 1))
    .option(
      '--alpha <list>',
      `plausibility mask(s) P_E ≥ α · max P_E, comma-separated (default: the embedded pair's settings.json, else ${d.alphas.join(',')})`,
      numberListOption('--alpha', 0, 1),
    )
    .option(
      '--beta <list>',
      "KL threshold(s) of the selective variant, comma-separated (default: the embedded pair's settings.json, else 0.4)",
      numberListOption('--beta', 0, Number.MAX_VALUE),
    )
    .option(
      '--max-new-tokens <n>',
      `tokens per answer at most (default ${EMBEDDED_DEFAULTS.evalMaxNewTokens} embedded, ${d.maxNewTokens} with your models)`,
      intOption('--max-new-tokens', 1),
    )
    .option('--batch-size <n>', 'problems decoded together (each up to one KV slot per variant)', intOption('--batch-size', 1), d.batchSize)
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'))
    .option('--threads <n>', 'Wasm: threads per model (default: all cores)', intOption('--threads', 1))
    .option('--out <file>', "also write the report with every problem's outputs (JSON)")
    .option('--overwrite', 'replace an existing --out file');
}

/** The pair to check (given, or the embedded default: its directory into `o`) and the α and β values to try. */
async function resolvePair(o: OptionValues, cmd: Command): Promise<{ embedded: boolean; alphas: number[]; betas: number[] }> {
  const d = DEFAULT_PAIR_CHECK;
  await resolveModelOption(o, 'expert');
  await resolveModelOption(o, 'amateur');
  if ((o.expert === undefined) !== (o.amateur === undefined)) throw badInputError('give both --expert and --amateur, or neither (the embedded default pair)');
  const embedded = o.expert === undefined;
  let betas: number[] = o.beta ?? d.betas;
  let alphas: number[] = o.alpha ?? d.alphas;
  if (embedded) {
    const dir = defaultPairDir();
    if (!dir) throw new LightReasonerError('NOT_FOUND', 'the embedded default pair (models/default) is not in this package; pass --expert DIR --amateur DIR');
    o.expert = resolve(dir, 'expert');
    o.amateur = resolve(dir, 'amateur');
    const chosen = embeddedSettings(dir);
    if (chosen && cmd.getOptionValueSource('beta') !== 'cli') betas = [chosen.beta];
    if (chosen?.alpha !== undefined && cmd.getOptionValueSource('alpha') !== 'cli') alphas = [chosen.alpha];
  } else {
    const fs = nodePlatform.fs;
    for (const [flag, dir] of [
      ['--expert', o.expert],
      ['--amateur', o.amateur],
    ])
      if (!(await fs.exists(fs.join(dir, 'config.json')))) throw badInputError(`${flag} ${dir}: not a model directory (no config.json)`);
  }
  return { embedded, alphas, betas };
}

/** The problems with answers: --data, else the generated dev set. */
async function pairCheckProblems(o: OptionValues) {
  const text = o.data ? (await readDataOption('--data', o.data, 'test', o.quiet)).text : defaultMixJsonl(o.count ?? PAIR_CHECK_DEFAULT_COUNT, 'dev');
  const file = o.data ?? 'generated dev set';
  let problems = parseEvalProblems(text, { file });
  if (o.count !== undefined) problems = problems.slice(0, o.count);
  return { problems, file };
}

async function runPairCheck(o: OptionValues, cmd: Command): Promise<void> {
  const d = DEFAULT_PAIR_CHECK;
  const output = commandOutput(o);
  const { embedded, alphas, betas } = await resolvePair(o, cmd);
  const { problems, file } = await pairCheckProblems(o);
  if (o.out !== undefined) await claimOutFile(nodePlatform.fs, o.out, { overwrite: o.overwrite });
  const settings = {
    alphas,
    betas,
    maxNewTokens: o.maxNewTokens ?? (embedded ? EMBEDDED_DEFAULTS.evalMaxNewTokens : d.maxNewTokens),
    batchSize: o.batchSize,
  };

  const interrupt = interruptOnSignals(output.progress);
  const bar = progress(output);
  try {
    output.progress(`pair-check: expert ${o.expert}, amateur ${o.amateur}; ${problems.length} problems (${file})`);
    const { report, records } = await pairCheckJob(
      { platform: nodePlatform, signal: interrupt.signal },
      {
        expert: o.expert,
        amateur: o.amateur,
        problems,
        settings,
        backend: o.backend,
        threads: o.threads,
        quantize: o.quantize,
        quantizeExpert: o.quantizeExpert,
        quantizeAmateur: o.quantizeAmateur,
      },
      bar.event,
    );
    bar.done();
    const doc = { ...report, data: { source: file, problems: problems.length } };
    if (o.out !== undefined) {
      const fs = nodePlatform.fs;
      await fs.mkdir?.(dirname(o.out));
      await fs.writeFileAtomic!(o.out, `${JSON.stringify({ ...doc, records }, null, 2)}\n`);
      output.progress(`wrote ${o.out}`);
    }
    output.result(formatPairCheck(report), doc);
  } catch (e) {
    bar.done();
    if (e instanceof LightReasonerError && e.code === 'ABORTED') throw new LightReasonerError('ABORTED', 'interrupted: nothing written');
    throw e;
  } finally {
    interrupt.dispose();
  }
}

/** Problems done and seconds: redrawn on a TTY; a line at most every 10 s (and the last) when piped; nothing with --quiet. */
function progress(output: CommandOutput) {
  const r = progressRenderer(!output.quiet);
  const t0 = performance.now();
  return {
    event(e: PairCheckEvent) {
      if (e.status !== 'step' && e.status !== 'problem') return;
      const elapsed = (performance.now() - t0) / 1000;
      r.show(`${e.done}/${e.total} problems · ${elapsed.toFixed(0)} s`, { piped: e.status === 'problem', final: e.done === e.total });
    },
    done: r.done,
  };
}
