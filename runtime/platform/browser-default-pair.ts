// Where the embedded default pair is, in a browser: URLs under the folder the app serves it from.
// A bundler does not copy a folder of model files by itself (Vite's `new URL(…, import.meta.url)`
// handles single files it can see in the source), so the app copies them once
// (`npx lightreasoner-wasm copy-models public/models/default`, README "In a web app") and this
// names them. The default folder is /models/default/ at the site's root (where Vite serves
// public/models/default), not relative to location: in a worker, location is the worker script's
// URL (e.g. /assets/worker-1a2b.js), which would put the pair under /assets/.
import { LightReasonerError } from '../errors.ts';
import type { DefaultPair } from './types.ts';

/**
 * The embedded default pair's URLs under `base` (default: '/models/default/' on this page's or
 * worker's origin; an app served under a sub-path passes its own, e.g. Vite's
 * `import.meta.env.BASE_URL + 'models/default/'`). The URLs are absolute, so the platform reads
 * them with fetch rather than from its storage.
 */
export function defaultPair(base?: string | URL): DefaultPair {
  const here = (globalThis as { location?: { href: string } }).location?.href;
  if (base === undefined && here === undefined) {
    throw new LightReasonerError(
      'BAD_INPUT',
      'defaultPair: no page location to resolve /models/default/ against — pass the URL the pair is served from, defaultPair(new URL(…))',
    );
  }
  let dir: URL;
  try {
    dir = new URL(String(base ?? '/models/default/'), here);
  } catch {
    throw new LightReasonerError(
      'BAD_INPUT',
      `defaultPair: "${String(base)}" is not a URL — pass an absolute URL or one relative to the page, e.g. '/models/default/'`,
    );
  }
  if (!dir.pathname.endsWith('/')) dir.pathname += '/';
  const at = (rel: string) => new URL(rel, dir).href;
  return { dir: dir.href, expert: at('expert'), amateur: at('amateur'), settings: at('settings.json') };
}
