// The run's output directory: which entries a run owns (only those are ever replaced), how a fresh
// start or a resume prepares it, and what a resume keeps (runtime/io/out-dir.ts has the rules).
import { claimOutDir } from '../io/out-dir.ts';
import type { FileSystem } from '../platform/types.ts';
import { statePath } from '../stage/sampling.ts';
import type { FinetuneSummary } from '../train/finetune.ts';

// Each evaluation's records, its summary, and the journal of an interrupted one (eval/journal.ts).
const OWN_EVAL_FILE = /^(amateur|expert_before|expert_after|expert_sft)(-seed\d+)?\.jsonl(\.summary\.json|\.partial)?$/;
const OWN_ADAPTER_DIR = /^adapter(-seed\d+)?$/;

/** The top-level entries of `out` that a run writes (the rest of the directory is the user's). */
function ownedByRun(name: string): boolean {
  return OWN_ADAPTER_DIR.test(name) || /^(samples\.jsonl(\.state\.json|\.summary\.json)?|sft|eval|report\.json|report\.html)$/.test(name);
}

/**
 * `out` must be new, empty, an interrupted run (resume) or overwritten. A resume keeps the samples,
 * fine-tuning and evaluations (each continued or checked by its own resume logic) and redoes the
 * rest; a fresh start clears the run's own entries. In eval/ only the run's own files are touched.
 */
export async function prepareRunDir(
  fs: FileSystem & Required<Pick<FileSystem, 'rm' | 'mkdir'>>,
  out: string,
  o: { resume?: boolean; overwrite?: boolean },
): Promise<{ resume: boolean; samplesFile: string }> {
  // eval/ is listed as owned for the emptiness check but cleared file by file below.
  await claimOutDir(fs, out, { resume: o.resume, overwrite: o.overwrite, owned: (n) => n !== 'eval' && ownedByRun(n) });
  const samplesFile = fs.join(out, 'samples.jsonl');
  const resume = o.resume === true && (await fs.exists(statePath(samplesFile)));
  for (const name of await fs.list!(out)) {
    const redo = ['report.json', 'report.html'].includes(name) || (!resume && name !== 'eval' && ownedByRun(name));
    if (redo) await fs.rm(fs.join(out, name));
  }
  const evalDir = fs.join(out, 'eval');
  await fs.mkdir(evalDir);
  if (!resume) for (const name of await fs.list!(evalDir)) if (OWN_EVAL_FILE.test(name)) await fs.rm(fs.join(evalDir, name));
  return { resume, samplesFile };
}

/** With resume: the summary of a fine-tuning that finished in `dir` before the interruption. */
export async function finishedFinetune(fs: FileSystem, dir: string): Promise<FinetuneSummary | null> {
  const file = fs.join(dir, 'train_summary.json');
  if (!(await fs.exists(file)) || !(await fs.exists(fs.join(dir, 'adapter_model.safetensors')))) return null;
  return JSON.parse(await fs.readText(file)) as FinetuneSummary;
}
