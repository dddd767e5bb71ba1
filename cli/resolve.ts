// Names the CLI resolves before a command runs: a model option that is not an existing path but
// looks like `org/name[@revision]` becomes the model's snapshot in the Hugging Face cache
// (downloaded when missing); a data option `hf://datasets/…` or a `.parquet` file becomes JSONL
// text, exactly what the command would have read from a JSONL file. Each command makes one call
// per option; the settings come from the environment as huggingface_hub reads them.
import { existsSync } from 'node:fs';
import { badInputError } from '../runtime/errors.ts';
import { datasetJsonl, parquetToJsonl } from '../runtime/hub/dataset.ts';
import { isModelId, resolveModel } from '../runtime/hub/model.ts';
import type { HubRevision } from '../runtime/hub/ids.ts';
import type { HubProgress } from '../runtime/hub/types.ts';
import { nodePlatform, readDataText } from '../runtime/platform/node.ts';
import { MAX_PROBLEM_CHARS } from '../runtime/data/limits.ts';
import { hubEnvironment, nodeHubFileSystem } from '../runtime/platform/node-hub.ts';
import { progressLine } from './progress.ts';

type Options = Record<string, unknown>;

const KB = 1024,
  MB = 1024 * KB,
  GB = 1024 * MB;
const size = (n: number) => (n >= GB ? `${(n / GB).toFixed(2)} GB` : n >= MB ? `${(n / MB).toFixed(1)} MB` : n >= KB ? `${(n / KB).toFixed(1)} kB` : `${n} B`);
const rate = (bytes: number, ms: number) => `${size(bytes / Math.max(ms / 1000, 1e-3))}/s`;
/** Off a TTY, files at least this big get a line of their own when done (small ones only count in the summary). */
const BIG = 10 * MB;

/**
 * Download progress on stderr: a redrawn line with bytes and speed on a TTY; elsewhere a line per
 * big file; then one summary line (files, bytes, speed) when anything was fetched. Silent with `quiet`.
 */
function downloadProgress(quiet: boolean) {
  const bar = progressLine(!quiet);
  const start = Date.now();
  let fileStart = start,
    files = 0,
    bytes = 0;
  return {
    onProgress(p: HubProgress) {
      const speed = rate(p.fetched, Date.now() - fileStart);
      if (!p.done) {
        bar.update(`downloading ${p.repo} ${p.file}  ${size(p.loaded)}${p.total ? ` / ${size(p.total)}` : ''}  ${speed}`);
        return;
      }
      bar.done();
      files++;
      bytes += p.fetched;
      const resumed = p.loaded > p.fetched ? `, resumed after ${size(p.loaded - p.fetched)} kept from before` : '';
      if (!quiet && !process.stderr.isTTY && p.fetched >= BIG)
        process.stderr.write(`downloaded ${p.repo} ${p.file}  ${size(p.fetched)} (${speed})${resumed}\n`);
      fileStart = Date.now();
    },
    /** The summary line, after the last file. */
    finish(name: string, what: string) {
      bar.done();
      if (!quiet && files > 0)
        process.stderr.write(
          `${name}: downloaded ${files} file${files === 1 ? '' : 's'}, ${size(bytes)} in ${((Date.now() - start) / 1000).toFixed(1)} s (${rate(bytes, Date.now() - start)}) — ${what}\n`,
        );
    },
    done: () => bar.done(),
  };
}

/**
 * `o[key]` (a --model, --expert or --amateur value) resolved in place: a Hub id becomes its local
 * snapshot directory; anything else is left for the command's own checks. The snapshot's path
 * says which model and commit it is (hub/ids.ts hubRevisionOf): adapter_config.json's
 * base_model_name_or_path and revision, and the reports, take them from there.
 */
export async function resolveModelOption(o: Options, key: 'model' | 'expert' | 'amateur'): Promise<void> {
  const value = o[key];
  if (typeof value !== 'string' || existsSync(value) || !isModelId(value)) return;
  const quiet = !!o.quiet;
  const progress = downloadProgress(quiet);
  try {
    const r = await resolveModel(value, { fs: nodeHubFileSystem, ...hubEnvironment(), onProgress: progress.onProgress });
    progress.finish(value, `commit ${r.sha} in ${r.dir}`);
    // the snapshot's path names the id and commit: adapter_config and the reports read them from it
    o[key] = r.dir;
  } finally {
    progress.done();
  }
}

/**
 * The text of a --data, --train-data or --eval-data value: a JSONL file as is; a `.parquet` file or
 * an `hf://datasets/org/name[/config[/split]]` data set as our JSONL (`defaultSplit` when the name
 * gives no split). `hub`: the data set's id and the commit it was read at, for the reports.
 */
export async function readDataOption(
  flag: string,
  value: string,
  defaultSplit: 'train' | 'test',
  quiet = false,
): Promise<{ text: string; hub: HubRevision | null }> {
  if (value.startsWith('hf://')) {
    const progress = downloadProgress(quiet);
    try {
      const { text, dataset } = await datasetJsonl(value, { fs: nodeHubFileSystem, ...hubEnvironment(), defaultSplit, onProgress: progress.onProgress });
      progress.finish(dataset.name, `commit ${dataset.sha}`);
      return { text, hub: { id: dataset.id, revision: dataset.sha } };
    } finally {
      progress.done();
    }
  }
  if (!existsSync(value)) throw badInputError(`${flag} ${value}: no such file`);
  // readDataText: a pipe (`--data <(…)`) is read as a stream; its lines are problem lines.
  const text = value.endsWith('.parquet') ? await parquetToJsonl(nodePlatform.fs, [value], value) : await readDataText(value, MAX_PROBLEM_CHARS);
  return { text, hub: null };
}
