// The Hub's HTTP API as this client uses it: a revision's commit and file list, and a file's
// metadata (ETag, size, commit, where its bytes are) from a HEAD on its resolve URL. Every failure
// becomes a LightReasonerError that names the model or data set and says what to do.
import { LightReasonerError, throwIfAborted } from '../errors.ts';
import { isCommitSha, normalizeEtag, type RepoRef, repoLabel, repoUrlPath } from './ids.ts';
import { DEFAULT_ENDPOINT, type HubOptions } from './types.ts';

export interface HubContext {
  endpoint: string;
  token?: string;
  fetch: typeof fetch;
  signal?: AbortSignal;
  /** How the user gives a token, for messages: `HF_TOKEN` (Node, Deno) or the browser's `token` option. */
  tokenName: string;
}

export function hubContext(opts: Pick<HubOptions, 'endpoint' | 'token' | 'fetch' | 'signal'>, tokenName?: string): HubContext {
  const endpoint = (opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  return {
    endpoint,
    token: opts.token || undefined,
    fetch: opts.fetch ?? globalThis.fetch.bind(globalThis),
    signal: opts.signal,
    tokenName: tokenName ?? 'HF_TOKEN',
  };
}

/** The token goes to the endpoint only: a redirect to a CDN carries its own signed URL. */
function authHeaders(ctx: HubContext, url: string): Record<string, string> {
  return ctx.token && new URL(url).origin === new URL(ctx.endpoint).origin ? { Authorization: `Bearer ${ctx.token}` } : {};
}

/**
 * fetch with the token, the caller's signal and `Accept-Encoding: identity` (as huggingface_hub:
 * sizes and Range offsets must be those of the file, not of a compressed body).
 */
export async function hubFetch(ctx: HubContext, repo: RepoRef, url: string, init: RequestInit = {}): Promise<Response> {
  throwIfAborted(ctx.signal);
  const headers = { 'Accept-Encoding': 'identity', ...authHeaders(ctx, url), ...(init.headers as Record<string, string> | undefined) };
  try {
    return await ctx.fetch(url, { ...init, headers, signal: ctx.signal });
  } catch (e) {
    throw networkError(ctx, repo, e);
  }
}

function networkError(ctx: HubContext, repo: RepoRef, e: unknown): LightReasonerError {
  if (e instanceof LightReasonerError) return e;
  if (ctx.signal?.aborted) return new LightReasonerError('ABORTED', `${repoLabel(repo)}: download aborted by the caller`, { cause: e });
  const why = causeText(e);
  return new LightReasonerError(
    'ENVIRONMENT',
    `${repoLabel(repo)}: cannot reach ${ctx.endpoint} (${why}) — check the network (or HF_ENDPOINT for a mirror); with HF_HUB_OFFLINE=1 only the local cache is used`,
    { cause: e },
  );
}

/** What went wrong under a fetch failure (undici's "fetch failed" hides it in `cause`). */
export function causeText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause as { message?: string; code?: string } | undefined;
  return cause?.message ?? cause?.code ?? e.message;
}

/** An HTTP refusal from the Hub, with the advice that fits its status. */
export function httpError(ctx: HubContext, repo: RepoRef, status: number, file?: string, errorCode?: string | null): LightReasonerError {
  const what = repoLabel(repo);
  const page = `${ctx.endpoint}/${repoUrlPath(repo)}`;
  const kind = repo.type === 'model' ? 'model' : 'data set';
  if (status === 401 || status === 403) {
    const advice = ctx.token
      ? `the token in ${ctx.tokenName} is not allowed to read it: accept the ${kind}'s license on ${page} with that account, or set ${ctx.tokenName} to a token with read access`
      : `it is gated or private: accept its license on ${page}, then set ${ctx.tokenName} to an access token (https://huggingface.co/settings/tokens) with read access`;
    return new LightReasonerError('ENVIRONMENT', `${what}: the Hub refused access (HTTP ${status}) — ${advice}`);
  }
  if (status === 404) {
    if (file !== undefined || errorCode === 'EntryNotFound')
      return new LightReasonerError('NOT_FOUND', `${what}: the Hub has no file ${file ?? ''} at revision ${repo.revision} (HTTP 404)`, { file });
    const said =
      errorCode === 'RevisionNotFound'
        ? `it has no revision "${repo.revision}"`
        : `it has no ${kind} ${repo.id}${repo.revision === 'main' ? '' : ` with a revision "${repo.revision}"`}`;
    const local = repo.type === 'model' ? 'not a local path, and ' : '';
    const privately = errorCode === 'RevisionNotFound' ? '' : ` (a private ${kind} also needs ${ctx.tokenName})`;
    return new LightReasonerError('NOT_FOUND', `${what}: ${local}${ctx.endpoint} says ${said} (HTTP 404) — check the name${privately}`);
  }
  const later = status === 429 || status >= 500 ? 'the Hub is busy or down: try again later' : 'unexpected answer';
  return new LightReasonerError('ENVIRONMENT', `${what}: HTTP ${status} from ${ctx.endpoint}${file ? ` for ${file}` : ''} — ${later}`, { file });
}

export interface RevisionInfo {
  sha: string;
  files: string[];
}

/**
 * The commit a revision points at and its files: `GET /api/{models|datasets}/{id}/revision/{rev}`,
 * as huggingface_hub's model_info/dataset_info call it.
 *
 * Not through @huggingface/hub's modelInfo: the package's exports map has no browser condition, so
 * bundlers (esbuild, which the web example uses) take its Node build, which imports node:fs, os and
 * path at the top and breaks every browser bundle of this runtime; its datasetInfo cannot return
 * the file list either; and its accessToken check refuses tokens that do not start with `hf_`.
 */
export async function revisionInfo(ctx: HubContext, repo: RepoRef): Promise<RevisionInfo> {
  const res = await hubFetch(ctx, repo, `${ctx.endpoint}/api/${repo.type}s/${repo.id}/revision/${encodeURIComponent(repo.revision)}`);
  if (!res.ok) throw httpError(ctx, repo, res.status, undefined, res.headers.get('x-error-code'));
  let json: { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  try {
    json = await res.json();
  } catch (e) {
    if (ctx.signal?.aborted) throw networkError(ctx, repo, e);
    json = {};
  }
  const sha = json.sha;
  const files = Array.isArray(json.siblings) ? json.siblings.map((s) => s?.rfilename) : undefined;
  if (typeof sha !== 'string' || !isCommitSha(sha) || !Array.isArray(files) || !files.every((f) => typeof f === 'string')) {
    throw new LightReasonerError(
      'ENVIRONMENT',
      `${repoLabel(repo)}: ${ctx.endpoint} sent revision info without a commit sha and file list — is HF_ENDPOINT a Hub (or a mirror of one)?`,
    );
  }
  return { sha, files: files as string[] };
}

export interface FileMeta {
  /** The blob name: sha-256 for LFS files (x-linked-etag), the git blob sha-1 for others. */
  etag: string;
  /** Bytes (NaN when the server did not say). */
  size: number;
  /** Where the bytes are: the CDN URL an LFS file redirects to, else the resolve URL. */
  url: string;
}

/**
 * HEAD on `{endpoint}/{repo}/resolve/{sha}/{file}` without following the redirect: its headers
 * (x-linked-etag, x-linked-size) describe the file, the CDN's would not (huggingface_hub does the
 * same). Relative redirects (a renamed repository) are followed, up to 5.
 */
export async function fileMeta(ctx: HubContext, repo: RepoRef, sha: string, file: string): Promise<FileMeta> {
  let url = `${ctx.endpoint}/${repoUrlPath(repo)}/resolve/${sha}/${file.split('/').map(encodeURIComponent).join('/')}`;
  for (let hop = 0; hop <= 5; hop++) {
    const res = await hubFetch(ctx, repo, url, { method: 'HEAD', redirect: 'manual' });
    const location = res.headers.get('location');
    const redirect = res.status >= 300 && res.status < 400 && location !== null;
    if (!res.ok && !redirect) throw httpError(ctx, repo, res.status, file, res.headers.get('x-error-code'));
    const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
    const target = redirect ? new URL(location!, url).href : url;
    if (redirect && etag === null && new URL(target).origin === new URL(url).origin) {
      url = target;
      continue;
    }
    if (etag === null)
      throw new LightReasonerError(
        'ENVIRONMENT',
        `${repoLabel(repo)}: ${ctx.endpoint} sent no usable ETag for ${file}, so the download cannot be verified — is HF_ENDPOINT a Hub (or a mirror of one)?`,
        { file },
      );
    const size = Number(res.headers.get('x-linked-size') ?? (redirect ? NaN : (res.headers.get('content-length') ?? NaN)));
    return { etag, size, url: target };
  }
  throw new LightReasonerError('ENVIRONMENT', `${repoLabel(repo)}: too many redirects for ${file} from ${ctx.endpoint}`, { file });
}
