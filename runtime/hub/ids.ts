// Hub names: model ids (`org/name[@revision]`), data set URIs (`hf://datasets/org/name[@rev]
// [/config[/split]]`) and where a repository lives in the cache (huggingface_hub's layout).
// Everything the Hub sends back that becomes part of a path (commit shas, ETags, file names) is
// checked here too, so a hostile server or mirror cannot write outside the cache.

export type RepoType = 'model' | 'dataset';

export interface RepoRef {
  type: RepoType;
  /** `org/name` */
  id: string;
  /** Branch, tag or commit sha; `main` when the name gives none. */
  revision: string;
}

export interface DatasetRef {
  repo: RepoRef;
  config?: string;
  split?: string;
}

// huggingface_hub's validate_repo_id: word characters, '-' and '.', starting and ending with a word
// character, at most 96, and never '--' or '..' (which would collide with the cache's separator).
const SEGMENT = /^\w(?:[\w.-]{0,94}\w)?$/;
const REVISION = /^[\w.-]+(?:\/[\w.-]+)*$/;
const SHA = /^[0-9a-f]{40}$/;

function validSegment(s: string): boolean {
  return SEGMENT.test(s) && !s.includes('--') && !s.includes('..');
}

function validRevision(s: string): boolean {
  return REVISION.test(s) && !s.split('/').some((p) => p === '.' || p === '..');
}

/** `org/name[@revision]` as a model repository, or null when the string is not shaped like one. */
export function parseModelId(s: string): RepoRef | null {
  const at = s.indexOf('@');
  const id = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? 'main' : s.slice(at + 1);
  const parts = id.split('/');
  if (parts.length !== 2 || !parts.every(validSegment) || !validRevision(revision)) return null;
  return { type: 'model', id, revision };
}

/** `hf://datasets/org/name[@revision][/config[/split]]`, or null when `s` is not an hf:// URI. */
export function parseDatasetUri(s: string): DatasetRef | null {
  const m = /^hf:\/\/datasets\/(.+)$/.exec(s);
  if (!m) return null;
  const parts = m[1].split('/').filter((p) => p !== '');
  if (parts.length < 2 || parts.length > 4) return null;
  const [org, nameRev, config, split] = parts;
  const at = nameRev.indexOf('@');
  const name = at < 0 ? nameRev : nameRev.slice(0, at);
  const revision = at < 0 ? 'main' : nameRev.slice(at + 1);
  if (!validSegment(org) || !validSegment(name) || !validRevision(revision)) return null;
  if ((config !== undefined && !validSegment(config)) || (split !== undefined && !validSegment(split))) return null;
  return { repo: { type: 'dataset', id: `${org}/${name}`, revision }, config, split };
}

export const isCommitSha = (s: string): boolean => SHA.test(s);

/** huggingface_hub's folder name: `models--org--name`, `datasets--org--name`. */
export function repoFolderName(repo: RepoRef): string {
  return [`${repo.type}s`, ...repo.id.split('/')].join('--');
}

/** The repository's path on the Hub: `org/name` for models, `datasets/org/name` for data sets. */
export function repoUrlPath(repo: RepoRef): string {
  return repo.type === 'model' ? repo.id : `datasets/${repo.id}`;
}

/** How a repository is named in messages: the id (and revision when it is not main). */
export function repoLabel(repo: RepoRef): string {
  const id = repo.type === 'model' ? repo.id : `hf://datasets/${repo.id}`;
  return repo.revision === 'main' ? id : `${id}@${repo.revision}`;
}

/** A file path inside a repository that is safe to join under the cache (no '..', no absolute path). */
export function safeRepoPath(p: string): boolean {
  const parts = p.split('/');
  return parts.length > 0 && parts.every((s) => /^[\w.=+ -]+$/.test(s) && s !== '.' && s !== '..');
}

/** An ETag as a blob name: huggingface_hub strips `W/` and the quotes; anything else is refused. */
export function normalizeEtag(raw: string | null): string | null {
  if (raw === null) return null;
  const e = raw
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  return /^[\w-]{1,128}$/.test(e) ? e : null;
}

/** A model or data set as taken from the Hub: its id and the commit it was read at. */
export interface HubRevision {
  /** `org/name` */
  id: string;
  /** The commit sha. */
  revision: string;
}

/**
 * The Hub id and commit a model directory (or data set folder) stands for, read from its path
 * alone, else null: a snapshot in huggingface_hub's cache (`…/models--org--name/snapshots/<sha>`,
 * however it got there: resolved by id here, or downloaded by Python) or, in browsers, a Hub URL
 * pinned to a commit (`https://…/org/name/resolve/<sha>`, what hubModelUrl gives).
 */
export function hubRevisionOf(source: string, type: RepoType = 'model'): HubRevision | null {
  const parts = source
    .split(/[?#]/)[0]
    .split(/[\\/]+/)
    .filter((p) => p !== '');
  const sha = parts[parts.length - 1];
  if (parts.length < 3 || !isCommitSha(sha)) return null;
  if (parts[parts.length - 2] === 'snapshots') {
    const m = new RegExp(`^${type}s--(.+?)--(.+)$`).exec(parts[parts.length - 3]);
    return m && validSegment(m[1]) && validSegment(m[2]) ? { id: `${m[1]}/${m[2]}`, revision: sha } : null;
  }
  if (parts[parts.length - 2] === 'resolve' && /^https?:$/.test(parts[0]) && parts.length >= 6) {
    const [org, name] = parts.slice(-4, -2);
    const typed = type === 'model' ? parts[parts.length - 5] !== 'datasets' : parts[parts.length - 5] === 'datasets';
    return typed && validSegment(org) && validSegment(name) ? { id: `${org}/${name}`, revision: sha } : null;
  }
  return null;
}
