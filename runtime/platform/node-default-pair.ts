// Where the embedded default pair (models/default of the package) is, in Node and Deno: absolute
// paths that work from a clone, from source (runtime/platform/) and from an npm install
// (dist/runtime/platform/ inside node_modules/lightreasoner-wasm). Browsers get URLs instead
// (browser-default-pair.ts), under a folder the app serves; copyDefaultPair puts the files there.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LightReasonerError } from '../errors.ts';
import { nodePlatform } from './node.ts';
import { DEFAULT_PAIR_FILES, type DefaultPair } from './types.ts';

/** models/default, two folders up from source (runtime/platform/), three from dist/runtime/platform/. */
const CANDIDATES = ['../../models/default', '../../../models/default'];

/** The package's models/default folder, or null when this copy of the package has none. */
export function defaultPairDir(): string | null {
  for (const rel of CANDIDATES) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'expert', 'config.json')) && existsSync(join(dir, 'amateur', 'config.json'))) return dir;
  }
  return null;
}

/**
 * The embedded default pair (a 1M-parameter expert and a 0.2M-parameter amateur trained by this
 * project, with a shared tokenizer and dev-chosen settings): absolute paths, ready for
 * `engine.run({ expert, amateur, … })`, `openModel(platform, expert)` or `--expert`.
 */
export function defaultPair(): DefaultPair {
  const dir = defaultPairDir();
  if (!dir) {
    throw new LightReasonerError(
      'NOT_FOUND',
      'models/default: the embedded default pair is not in this copy of lightreasoner-wasm — reinstall the package (npm install lightreasoner-wasm), or pass your own expert and amateur',
    );
  }
  return { dir, expert: join(dir, 'expert'), amateur: join(dir, 'amateur'), settings: join(dir, 'settings.json') };
}

/**
 * Copy the pair's files (DEFAULT_PAIR_FILES) into `dest` (e.g. a web app's public/models/default,
 * served beside the page), replacing older copies. Each file is written atomically (temp file +
 * rename: a reader never sees half a file); the file system's refusals are one-line
 * LightReasonerErrors naming the path. Returns the files written, relative to `dest`.
 */
export async function copyDefaultPair(dest: string): Promise<string[]> {
  const { dir } = defaultPair();
  const fs = nodePlatform.fs;
  const root = resolve(dest);
  for (const rel of DEFAULT_PAIR_FILES) {
    const to = join(root, rel);
    await fs.mkdir!(dirname(to));
    await fs.writeFileAtomic!(to, await fs.readBytes(join(dir, rel)));
  }
  return [...DEFAULT_PAIR_FILES];
}
