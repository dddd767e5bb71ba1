// Two processes sharing one Hugging Face cache download a blob once: `blobs/<etag>.lock` (created
// exclusively) makes the second wait and reuse the first's verified blob; a lock whose holder died
// or went silent is broken, a live one waited on (runtime/hub/download.ts, platform/node-hub.ts).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModel } from '../runtime/hub/model.ts';
import type { HubOptions } from '../runtime/hub/types.ts';
import { nodeHubFileSystem } from '../runtime/platform/node-hub.ts';
import { FIXTURES, runCli } from './helpers/cli.ts';
import { commitOf, FakeHub, filesOf, sha256 } from './helpers/hub-server.ts';

const TINY = join(FIXTURES, 'sampling', 'models', 'llama-pair', 'amateur');

async function setup(t: Test) {
  const hub = new FakeHub();
  const files = filesOf(TINY);
  const tiny = hub.add({ type: 'model', id: 'org/tiny', sha: commitOf(files), files });
  await hub.start();
  const home = mkdtempSync(join(tmpdir(), 'lr-hub-lock-'));
  t.teardown(async () => {
    await hub.close();
    rmSync(home, { recursive: true, force: true });
  });
  const cacheDir = join(home, 'hub');
  const oid = sha256(files.get('model.safetensors')!);
  const blobs = join(cacheDir, 'models--org--tiny', 'blobs');
  const blobGets = () => hub.requests.filter((q) => q.method === 'GET' && q.path === `/cdn/${oid}`);
  const opts = (): HubOptions => ({ fs: nodeHubFileSystem, cacheDir, endpoint: hub.url, retryDelayMs: 1 });
  return { hub, home, cacheDir, tiny, oid, blobs, blobGets, opts };
}

t.test('two CLI processes fetching one model at once: one download, both succeed, the blob verifies', async (t) => {
  const { hub, home, oid, blobs, blobGets, tiny } = await setup(t);
  const DELAY = 2500;
  hub.cdnDelayMs = DELAY;
  const env = {
    HF_ENDPOINT: hub.url,
    HF_HOME: home,
    HF_HUB_CACHE: undefined,
    HF_TOKEN: undefined,
    HUGGING_FACE_HUB_TOKEN: undefined,
    HF_HUB_OFFLINE: undefined,
    HF_TOKEN_PATH: undefined,
  };
  const args = ['generate', '--model', 'org/tiny', '--prompt', 'Tom has 3 boxes', '--max-new-tokens', '3', '--backend', 'reference', '--json'];
  const [a, b] = await Promise.all([runCli(args, { env }), runCli(args, { env })]);
  t.equal(a.code, 0, 'the first exits 0', { stderr: a.stderr });
  t.equal(b.code, 0, 'the second exits 0', { stderr: b.stderr });
  t.equal(a.stdout, b.stdout, 'and both generate the same');
  const heads = hub.requests.filter((q) => q.method === 'HEAD' && q.path.endsWith('/model.safetensors'));
  t.equal(heads.length, 2, 'both asked for the weights');
  const gets = blobGets();
  t.equal(gets.length, 1, 'the CDN served the blob once');
  t.ok(gets.length === 1 && heads.every((h) => h.time < gets[0].time + DELAY), 'the second asked while the first was downloading (they overlapped)');
  t.equal(sha256(readFileSync(join(blobs, oid))), oid, 'the blob verifies');
  t.same(
    readdirSync(blobs).filter((f) => /\.(lock|incomplete)$|\.stale-/.test(f)),
    [],
    'no lock or .incomplete left',
  );
  t.ok(existsSync(join(home, 'hub', 'models--org--tiny', 'snapshots', tiny.sha, 'model.safetensors')));
});

/** A pid no process has any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

t.test("a lock left by a dead process, or untouched for minutes, is broken; a live holder's is waited for", async (t) => {
  const { oid, blobs, blobGets, cacheDir, opts } = await setup(t);
  const lock = join(blobs, `${oid}.lock`);
  mkdirSync(blobs, { recursive: true });

  writeFileSync(lock, `${hostname()} ${deadPid()} ${Date.now()} x`);
  const r = await resolveModel('org/tiny', opts());
  t.equal(sha256(readFileSync(join(r.dir, 'model.safetensors'))), oid, 'a dead holder (this host, pid gone): broken, downloaded');
  t.notOk(existsSync(lock), 'and the lock released');

  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(blobs, { recursive: true });
  writeFileSync(lock, 'another-host 1 0 x');
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(lock, old, old);
  await resolveModel('org/tiny', opts());
  t.notOk(existsSync(lock), 'a lock from another host untouched for 10 minutes: broken');

  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(blobs, { recursive: true });
  writeFileSync(lock, `${hostname()} ${process.pid} ${Date.now()} x`);
  const before = blobGets().length;
  let settled = false;
  const waiting = resolveModel('org/tiny', opts()).finally(() => (settled = true));
  await new Promise((done) => setTimeout(done, 1000));
  t.notOk(settled, 'a live holder: still waiting after 1 s');
  t.equal(blobGets().length, before, 'without downloading');
  rmSync(lock);
  const w = await waiting;
  t.equal(blobGets().length, before + 1, 'released: it downloads');
  t.equal(sha256(readFileSync(join(w.dir, 'model.safetensors'))), oid);
});
