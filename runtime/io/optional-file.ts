// Optional files of a model directory (chat_template.jinja, generation_config.json,
// tokenizer_config.json…): absent is fine. So is a single-page-app fallback's HTML page in a
// file's place (HtmlFallbackError, from platform/http-fs.ts) when the server claimed, on the HEAD
// request, that the file was there: it is treated as absent, with one warning line, because the
// server said otherwise. (A fallback the HEAD request already shows reads as absent, like a 404.)
import { HtmlFallbackError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';

export type WarningSink = (message: string) => void;

async function optional<T>(fs: FileSystem, path: string, read: () => Promise<T>, onWarning?: WarningSink): Promise<T | null> {
  if (!(await fs.exists(path))) return null;
  try {
    return await read();
  } catch (e) {
    if (!(e instanceof HtmlFallbackError)) throw e;
    onWarning?.(`${path}: the server answered with an HTML page (a single-page-app fallback?), not this optional file; treated as absent`);
    return null;
  }
}

/** The file's text, or null when it is absent (or an HTML fallback page stands in its place). */
export const readOptionalText = (fs: FileSystem, path: string, onWarning?: WarningSink) => optional(fs, path, () => fs.readText(path), onWarning);

/** The file's bytes, or null when it is absent (or an HTML fallback page stands in its place). */
export const readOptionalBytes = (fs: FileSystem, path: string, onWarning?: WarningSink) => optional(fs, path, () => fs.readBytes(path), onWarning);
