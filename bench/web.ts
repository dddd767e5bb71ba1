// `npm run bench:web [-- --rounds N] [-- --threads T] [-- --query "train=16&eval=100"]`
//
// The default loop (sample → fine-tune → eval before/after → report, the embedded pair and its
// dev-chosen settings) in the browser — the example web app (examples/web) in headless Chromium,
// the engine in a worker on Wasm with T threads — against the Node CLI's `run` with the same
// settings, interleaved round by round in one sitting (these machines are shared and noisy:
// medians and their ratio, not single runs). Needs Debian's chromium; never run by tests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// dist/bench/web.js (npm run bench:web) or bench/web.ts run from source
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/bench/') ? '../..' : '..', import.meta.url));
const args = process.argv.slice(2);
const opt = (f: string, d: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : d);
const rounds = Number(opt('--rounds', '3'));
const threads = Number(opt('--threads', '2'));
const query = new URLSearchParams(opt('--query', ''));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const CLI_FLAGS: Record<string, string> = {
  train: '--max-questions',
  eval: '--eval-questions',
  steps: '--max-steps',
  evalTokens: '--eval-max-new-tokens',
  sampleBatch: '--sample-batch-size',
};

async function main() {
  const exe = spawnSync('bash', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).stdout.trim();
  if (!exe) throw new Error('chromium not found (apt-get install chromium)');
  if (spawnSync(process.execPath, [join(ROOT, 'examples/web/build.mjs')], { stdio: 'inherit' }).status !== 0) throw new Error('examples/web did not build');
  const srv = spawn(process.execPath, [join(ROOT, 'examples/web/serve.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise<string>((resolve) =>
    srv.stdout!.on('data', (d: Buffer) => /(http:\/\/\S+\/)/.test(String(d)) && resolve(/(http:\/\/\S+\/)/.exec(String(d))![1])),
  );
  const browser = await chromium.launch({
    executablePath: exe,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const tmp = mkdtempSync(join(tmpdir(), 'lr-bench-web-'));
  const cliArgs = Object.entries(CLI_FLAGS).flatMap(([k, flag]) => (query.has(k) ? [flag, query.get(k)!] : []));
  const times = { node: [] as number[], browser: [] as number[] };
  let reports: { node?: unknown; browser?: unknown } = {};
  try {
    for (let r = 0; r < rounds; r++) {
      const out = join(tmp, `cli-${r}`);
      let t0 = performance.now();
      const cli = spawnSync(
        process.execPath,
        [join(ROOT, 'dist/cli/main.js'), 'run', '--out', out, '--backend', 'wasm', '--threads', String(threads), '--quiet', ...cliArgs],
        { encoding: 'utf8' },
      );
      if (cli.status !== 0) throw new Error(`the CLI run failed: ${cli.stderr}`);
      times.node.push((performance.now() - t0) / 1000);
      const nodeReport = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));

      const context = await browser.newContext(); // fresh storage: nothing to resume
      const page = await context.newPage();
      const q = new URLSearchParams({ ...Object.fromEntries(query), auto: '1', threads: String(threads) });
      t0 = performance.now();
      await page.goto(`${base}?${q}`);
      await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 1_800_000, polling: 250 });
      times.browser.push((performance.now() - t0) / 1000);
      const state: Record<string, string | undefined> = await page.evaluate(() => ({
        ...document.body.dataset,
        error: document.getElementById('error')!.textContent ?? '',
      }));
      if (state.state !== 'done') throw new Error(`the page failed: ${state.error}`);
      reports = { node: nodeReport.eval.expert_after.accuracy, browser: Number(state.accuracyAfter) };
      console.error(
        `round ${r + 1}/${rounds}: node ${times.node[r].toFixed(1)} s, browser ${times.browser[r].toFixed(1)} s (load1 ${loadavg()[0].toFixed(2)})`,
      );
      await context.close();
    }
  } finally {
    await browser.close();
    srv.kill();
    rmSync(tmp, { recursive: true, force: true });
  }
  const result = {
    host: `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`,
    threads,
    rounds,
    query: String(query) || '(the embedded default)',
    node_median_s: median(times.node),
    browser_median_s: median(times.browser),
    browser_over_node: median(times.browser) / median(times.node),
    same_accuracy_after: reports.node === reports.browser,
    node_s: times.node,
    browser_s: times.browser,
  };
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
  console.error(`error: ${e?.message ?? e}`);
  process.exit(1);
});
