// Issue 25, items 2 and 5: what a user gets from `npm install lightreasoner-wasm`. The project is
// packed (`npm pack --json`, the dist/ already built — the prepare build is what `npm ci` ran) and
// installed into an empty folder; there the README's library snippets (the ```js blocks after a
// `<!-- snippet-test: … -->` line, read from README.md so the two cannot drift) run as written in
// Node and Deno, the CLI answers, and the tarball holds what runs and nothing else.
import t from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.ts';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const DENO = join(ROOT, 'node_modules', '.bin', 'deno');

/** The README's tested snippets: the ```js block after each `<!-- snippet-test: RUNTIMES -->` line. */
export function readmeSnippets(readme: string): { runtimes: string[]; code: string; line: number }[] {
  const out: { runtimes: string[]; code: string; line: number }[] = [];
  const re = /^<!-- snippet-test: ([a-z ]+) -->\n```js\n([\s\S]*?)^```$/gm;
  for (const m of readme.matchAll(re)) {
    out.push({ runtimes: m[1].trim().split(/\s+/), code: m[2], line: readme.slice(0, m.index).split('\n').length + 1 });
  }
  return out;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeout = 180_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, encoding: 'utf8', timeout });
}

const work = mkdtempSync(join(tmpdir(), 'lightreasoner-packed-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const app = join(work, 'app');

t.test('README snippets are marked for this test', async (t) => {
  const snippets = readmeSnippets(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  t.ok(snippets.length >= 2, `found ${snippets.length} snippets`);
  for (const s of snippets) t.match(s.code, /from 'lightreasoner-wasm'/, `README line ${s.line} imports the package by name`);
});

t.test('npm pack --json: valid JSON, and the tarball ships what runs, each thing once', async (t) => {
  // --ignore-scripts: dist/ as built (`npm ci` ran the prepare build); the build's own stdout is
  // checked below, so that a `npm pack --json` that does run it stays JSON.
  const r = run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT);
  t.equal(r.status, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  const files = pack.files.map((f) => f.path);
  t.ok(files.includes('LICENSE'), 'LICENSE');
  t.ok(
    files.includes('dist/cli/main.js') && files.includes('dist/runtime/entry/node.js') && files.includes('dist/runtime/entry/browser.js'),
    'the CLI and the entries',
  );
  for (const f of ['expert/model.safetensors', 'amateur/model.safetensors', 'expert/tokenizer.json', 'settings.json'])
    t.ok(files.includes(`models/default/${f}`), `models/default/${f}`);
  t.same(
    files.filter((f) => f.endsWith('.map')),
    [],
    'no source maps (their sources are not shipped)',
  );
  t.same(
    files.filter((f) => f.startsWith('dist/bench/') || f.startsWith('test/') || f.startsWith('bench/')),
    [],
    'no bench, no tests',
  );
  t.same(
    files.filter((f) => f.endsWith('.wgsl') || f.endsWith('.wasm')),
    [],
    'WGSL and Wasm only as embedded in dist/runtime/generated',
  );
  t.same(
    files.filter((f) => f.startsWith('models/default/tokenizer/')),
    [],
    "the tokenizer only in each model's folder",
  );
  t.ok(files.includes('examples/web/main.ts') && !files.some((f) => f.startsWith('examples/web/dist/')), 'the web example, as source');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.notMatch(readme, /LIGHTREASONER\.md|\]\(\.\.\//, 'the README links nothing outside the package');
  const embed = run(process.execPath, ['scripts/embed-assets.mjs', '--out', join(work, 'generated')], ROOT);
  t.equal(embed.status, 0, embed.stderr);
  t.equal(embed.stdout, '', 'the build prints nothing on stdout (npm pack --json runs it)');
  writeFileSync(join(work, 'tarball'), pack.filename);
});

t.test('installed into an empty folder: the CLI, the snippets, copy-models, no Dawn', async (t) => {
  const tarball = join(work, readFileSync(join(work, 'tarball'), 'utf8'));
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  const inst = run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
  t.equal(inst.status, 0, inst.stderr);
  t.ok(existsSync(join(app, 'node_modules', 'lightreasoner-wasm', 'dist', 'cli', 'main.js')), 'installed');
  t.notOk(existsSync(join(app, 'node_modules', 'webgpu')), 'webgpu (Dawn) is not installed by default');

  const help = run(NPM, ['exec', '--', 'lightreasoner-wasm', '--help'], app);
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /Usage: lightreasoner-wasm/);
  t.match(help.stdout, /copy-models/);

  const auto = run(NPM, ['exec', '--', 'lightreasoner-wasm', 'info'], app);
  t.equal(auto.status, 0, auto.stderr);
  t.equal(auto.stderr, '', 'auto without Dawn: quiet');
  t.match(auto.stdout, /backend: +wasm/);
  t.match(auto.stdout, /note: .*npm install webgpu/, 'info says how to get WebGPU');
  const gpu = run(NPM, ['exec', '--', 'lightreasoner-wasm', 'info', '--backend', 'webgpu'], app);
  t.equal(gpu.status, 1, 'an environment failure');
  const lines = gpu.stderr.trim().split('\n');
  t.equal(lines.length, 1, gpu.stderr);
  t.match(lines[0], /^error: .*optional package webgpu.*not installed.*npm install webgpu; or use --backend wasm/);

  const copy = run(NPM, ['exec', '--', 'lightreasoner-wasm', 'copy-models', 'public/models/default'], app);
  t.equal(copy.status, 0, copy.stderr);
  for (const f of ['expert/model.safetensors', 'amateur/tokenizer.json', 'settings.json']) {
    t.same(readFileSync(join(app, 'public/models/default', f)), readFileSync(join(ROOT, 'models/default', f)), `copied ${f}`);
  }

  const snippets = readmeSnippets(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  for (const [i, s] of snippets.entries()) {
    const file = join(app, `snippet-${i}.mjs`);
    writeFileSync(file, s.code);
    for (const runtime of s.runtimes) {
      if (runtime === 'deno' && !existsSync(DENO)) {
        t.pass('deno is not installed here: the Deno run is NOT tested', { skip: true });
        continue;
      }
      // each runtime in a folder of its own, so that the second does not find the first's outputs
      const cwd = join(app, `${runtime}-${i}`);
      mkdirSync(cwd);
      const r = runtime === 'deno' ? run(DENO, ['run', '-A', file], cwd) : run(process.execPath, [file], cwd);
      t.equal(r.status, 0, `README line ${s.line} in ${runtime}`, { stdout: r.stdout.slice(-2000), stderr: r.stderr.slice(-3000) });
    }
  }
});
