// huggingface_hub's cache layout, which Python's tools read and write too:
//
//   <cacheDir>/models--org--name/
//     refs/main                         the commit sha that `main` pointed at when last resolved
//     blobs/<etag>                      file contents, named by ETag (sha-256 for LFS files)
//     blobs/<etag>.incomplete           a download in progress (resumed with Range)
//     snapshots/<sha>/<file>            → ../../blobs/<etag> (a relative symlink, or a copy)
//
// So a model Python downloaded is used as is, and one we download loads in transformers.
import { LightReasonerError } from '../errors.ts';
import { isCommitSha, type RepoRef, repoFolderName, repoLabel } from './ids.ts';
import type { HubFileSystem } from './types.ts';

export function storageDir(fs: HubFileSystem, cacheDir: string, repo: RepoRef): string {
  return fs.join(cacheDir, repoFolderName(repo));
}

export function snapshotDir(fs: HubFileSystem, storage: string, sha: string): string {
  return fs.join(storage, 'snapshots', sha);
}

export function snapshotFile(fs: HubFileSystem, storage: string, sha: string, file: string): string {
  return fs.join(snapshotDir(fs, storage, sha), ...file.split('/'));
}

/** The symlink target of a snapshot file, relative to its folder: `../../blobs/<etag>` at the top. */
export function blobLinkTarget(file: string, etag: string): string {
  return `${'../'.repeat(file.split('/').length + 1)}blobs/${etag}`;
}

function refPath(fs: HubFileSystem, storage: string, revision: string): string {
  return fs.join(storage, 'refs', ...revision.split('/'));
}

/** The commit a revision stands for in the cache: itself when it is a sha, else refs/<revision>. */
export async function cachedCommit(fs: HubFileSystem, storage: string, repo: RepoRef): Promise<string | null> {
  if (isCommitSha(repo.revision)) return repo.revision;
  const path = refPath(fs, storage, repo.revision);
  if (!(await fs.exists(path))) return null;
  const sha = (await fs.readText(path)).trim();
  if (!isCommitSha(sha)) {
    throw new LightReasonerError('MODEL_FORMAT', `${repoLabel(repo)}: the cache's ${path} does not hold a commit sha — delete it and run again`, {
      file: path,
    });
  }
  return sha;
}

export async function writeRef(fs: HubFileSystem, storage: string, revision: string, sha: string): Promise<void> {
  if (isCommitSha(revision)) return;
  const path = refPath(fs, storage, revision);
  await fs.mkdir(fs.join(storage, 'refs', ...revision.split('/').slice(0, -1)));
  // huggingface_hub writes the bare sha, no newline
  await fs.writeFileAtomic(path, sha);
}

/** All files under a snapshot folder, as repository paths ('main/test-00000-of-00001.parquet'). */
export async function snapshotFiles(fs: HubFileSystem, dir: string, prefix = ''): Promise<string[]> {
  if (!(await fs.exists(dir))) return [];
  const out: string[] = [];
  for (const name of await fs.list(dir)) {
    const path = fs.join(dir, name);
    // a folder lists; a file (or a symlink to a blob) does not
    const sub = await fs.list(path).then(
      (names) => names,
      () => null,
    );
    if (sub === null) out.push(prefix + name);
    else out.push(...(await snapshotFiles(fs, path, `${prefix}${name}/`)));
  }
  return out;
}
