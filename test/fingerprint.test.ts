// Model fingerprints (runtime/stage/fingerprint.ts) over the weight bytes: a fine-tune with the same
// headers differs from its base, the digest of a plain file is computed once and then remembered
// per (path, size, mtime), and a Hub-cache snapshot's digest is its blob's name (nothing hashed).
import t from 'tap';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileDigestCache, memoryDigestCache } from '../runtime/platform/digest-cache.ts';
import { MemoryFileSystem } from '../runtime/platform/memory-fs.ts';
import { nodeFileSystem } from '../runtime/platform/node.ts';
import type { FileSystem } from '../runtime/platform/types.ts';
import { adapterFingerprint, fileDigest, modelFingerprint } from '../runtime/stage/fingerprint.ts';
import { FIXTURES } from './helpers/cli.ts';
import { copyModel, setValue } from './helpers/model-dir.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lr-fingerprint-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** nodeFileSystem, counting the weight files it hashes or reads whole. */
function spyFs() {
  const hashed: string[] = [];
  const fs: FileSystem = {
    ...nodeFileSystem,
    sha256: (p) => (hashed.push(p), nodeFileSystem.sha256!(p)),
    readBytes: (p, o, l) => (p.endsWith('.safetensors') && hashed.push(p), nodeFileSystem.readBytes(p, o, l)),
  };
  return { fs, hashed };
}

t.test('a model and a copy with one weight changed differ; identical copies agree', async (t) => {
  const base = copyModel(t),
    same = copyModel(t),
    tuned = copyModel(t);
  setValue(join(tuned, 'model.safetensors'), 'model.norm.weight', 0, 1.5);
  const cache = memoryDigestCache();
  const [a, b, c] = await Promise.all([base, same, tuned].map((d) => modelFingerprint(nodeFileSystem, d, { cache })));
  t.match(a, /^[0-9a-f]{64}$/);
  t.equal(a, b, 'the same bytes in another folder: the same fingerprint');
  t.not(a, c, 'one weight changed (headers identical): another fingerprint');
  t.equal(
    await fileDigest(nodeFileSystem, join(base, 'model.safetensors'), { cache }),
    createHash('sha256')
      .update(readFileSync(join(base, 'model.safetensors')))
      .digest('hex'),
    'the digest is the sha-256 of the file',
  );
});

t.test('the digest is remembered per (path, size, mtime): the second fingerprint reads no weights', async (t) => {
  const dir = copyModel(t);
  const file = join(tmp, 'cache', 'fingerprints.json');
  const { fs, hashed } = spyFs();
  const first = await modelFingerprint(fs, dir, { cache: fileDigestCache(nodeFileSystem, file, join(tmp, 'cache')) });
  t.same(hashed, [join(dir, 'model.safetensors')], 'hashed once');
  t.match(readFileSync(file, 'utf8'), /[0-9a-f]{64}/, 'the cache file holds the digest');
  // A new cache object on the same file: what a second process sees.
  const again = await modelFingerprint(fs, dir, { cache: fileDigestCache(nodeFileSystem, file, join(tmp, 'cache')) });
  t.equal(again, first, 'the same fingerprint');
  t.equal(hashed.length, 1, 'the second time nothing was hashed');
  // Changed in place with the same size: the mtime moves, so it is hashed again.
  setValue(join(dir, 'model.safetensors'), 'model.norm.weight', 0, 2.5);
  utimesSync(join(dir, 'model.safetensors'), new Date(), new Date(Date.now() + 5000));
  const changed = await modelFingerprint(fs, dir, { cache: fileDigestCache(nodeFileSystem, file, join(tmp, 'cache')) });
  t.equal(hashed.length, 2, 'a modified file is hashed again');
  t.not(changed, first, 'and fingerprints differently');
  // A damaged cache file is only a cache: ignored.
  const broken = join(tmp, 'broken.json');
  cpSync(join(FIXTURES, 'models', 'llama-gqa-tied-f32', 'config.json'), broken);
  t.equal(
    await modelFingerprint(nodeFileSystem, dir, { cache: fileDigestCache(nodeFileSystem, broken, tmp) }),
    changed,
    'a cache file of another shape is ignored',
  );
});

t.test('a Hub-cache snapshot: the blob name is the digest, nothing is hashed', async (t) => {
  const src = join(FIXTURES, 'models', 'llama-gqa-tied-f32');
  const storage = join(tmp, 'hub', 'models--org--tiny');
  const snap = join(storage, 'snapshots', 'a'.repeat(40));
  mkdirSync(join(storage, 'blobs'), { recursive: true });
  mkdirSync(snap, { recursive: true });
  for (const name of readdirSync(src)) {
    const bytes = readFileSync(join(src, name));
    const etag = name.endsWith('.safetensors') ? createHash('sha256').update(bytes).digest('hex') : createHash('sha1').update(bytes).digest('hex');
    cpSync(join(src, name), join(storage, 'blobs', etag));
    symlinkSync(`../../blobs/${etag}`, join(snap, name));
  }
  const { fs, hashed } = spyFs();
  const cache = memoryDigestCache();
  const fromHub = await modelFingerprint(fs, snap, { cache });
  t.same(hashed, [], 'the weights were neither hashed nor read');
  t.equal(fromHub, await modelFingerprint(nodeFileSystem, src, { cache }), 'the same fingerprint as the same files in a plain folder');
});

t.test('platforms without stat or streaming (in memory): hashed from the bytes', async (t) => {
  const fs = new MemoryFileSystem();
  const src = join(FIXTURES, 'models', 'llama-gqa-tied-f32');
  for (const name of readdirSync(src)) await fs.writeFileAtomic(`m/${name}`, readFileSync(join(src, name)));
  t.equal(
    await modelFingerprint(fs, 'm', { cache: memoryDigestCache() }),
    await modelFingerprint(nodeFileSystem, src, { cache: memoryDigestCache() }),
    'the same fingerprint as on disk',
  );
  await fs.writeFileAtomic('a/adapter_config.json', '{"r": 4}');
  await fs.writeFileAtomic('a/adapter_model.safetensors', new Uint8Array([1, 2, 3]));
  const one = await adapterFingerprint(fs, 'a');
  await fs.writeFileAtomic('a/adapter_model.safetensors', new Uint8Array([1, 2, 4]));
  t.not(await adapterFingerprint(fs, 'a'), one, 'an adapter with other weights: another fingerprint');
});
