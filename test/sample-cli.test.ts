// `lightreasoner-wasm sample` end to end: crash safety (SIGKILL mid-run, then --resume gives the
// uninterrupted run's bytes), resume refusals, and bad input.
import t from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, ROOT, runCli, TEST_CLI } from './helpers/cli.ts';
import { runEachInProcess, runInProcess } from './helpers/cli-in-process.ts';

const MODELS = join(FIXTURES, 'sampling', 'models', 'qwen-pair');
const EXPERT = join(MODELS, 'expert'),
  AMATEUR = join(MODELS, 'amateur');
const tmp = mkdtempSync(join(tmpdir(), 'lr-sample-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// 40 problems (distinct ids and texts) so a run lasts long enough to be killed in the middle.
const base = readFileSync(join(FIXTURES, 'sampling', 'questions.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l).question as string);
const DATA = join(tmp, 'problems.jsonl');
writeFileSync(
  DATA,
  Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `p${i}`, question: `${base[i % 4]} (${i})`, answer: 'ignored' })).join('\n') + '\n',
);
const common = (out: string, extra: string[] = []) => [
  'sample',
  '--expert',
  EXPERT,
  '--amateur',
  AMATEUR,
  '--data',
  DATA,
  '--out',
  out,
  '--backend',
  'reference',
  '--batch-size',
  '3',
  '--max-new-tokens',
  '24',
  '--quiet',
  ...extra,
];

/** Spawn the CLI and SIGKILL it as soon as its state file shows a committed problem. */
function runAndKill(args: string[], state: string): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TEST_CLI[0], [...TEST_CLI.slice(1), ...args], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    let killed = false;
    const poll = setInterval(() => {
      try {
        if (JSON.parse(readFileSync(state, 'utf8')).committed >= 1) {
          killed = child.kill('SIGKILL');
          clearInterval(poll);
        }
      } catch {
        // not written yet
      }
    }, 5);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ killed, code });
    });
  });
}

t.test('SIGKILL mid-run, then --resume: byte-identical to an uninterrupted run', async (t) => {
  const full = join(tmp, 'full.jsonl'),
    cut = join(tmp, 'cut.jsonl');
  const [a, k] = await Promise.all([runCli(common(full)), runAndKill(common(cut), `${cut}.state.json`)]);
  t.equal(a.code, 0, 'uninterrupted run exits 0', { stderr: a.stderr });
  t.ok(k.killed, 'the second run was killed');
  const state = JSON.parse(readFileSync(`${cut}.state.json`, 'utf8'));
  t.ok(state.committed >= 1 && state.committed < 40, `killed after ${state.committed} of 40 problems`);
  t.equal(readFileSync(cut).length >= state.bytes, true, 'the committed bytes are on disk');
  // A torn write of the next problem (the kill may or may not have left one): resume must cut it.
  appendFileSync(cut, '{"prompt_id":"p39","step":1,"pre');

  const again = await runInProcess(common(cut));
  t.equal(again.code, 2, 'without --resume an existing output is refused');
  t.match(again.stderr, /already exists: pass --resume/);

  const other = await runInProcess(common(cut, ['--beta', '0.5', '--resume']));
  t.equal(other.code, 2, 'a resume with another --beta is refused');
  t.match(other.stderr, /other settings.*beta was 0.4, now 0.5/);

  const resumed = await runInProcess(common(cut, ['--resume', '--json']));
  t.equal(resumed.code, 0, 'resume exits 0', { stderr: resumed.stderr });
  t.ok(readFileSync(cut).equals(readFileSync(full)), 'resumed output = uninterrupted output, byte for byte');
  t.ok(readFileSync(full).length > 0, 'samples were written');
  const summary = JSON.parse(readFileSync(`${cut}.summary.json`, 'utf8'));
  t.match(summary, { problems: 40, settings: { beta: 0.4, batchSize: 3 }, backend: 'reference' });
  t.equal(summary.selected_steps, readFileSync(full, 'utf8').trim().split('\n').length, 'summary counts the samples');
  t.same(JSON.parse(resumed.stdout), summary, '--json: the summary is the one JSON document on stdout');
  const fullSummary = JSON.parse(readFileSync(`${full}.summary.json`, 'utf8'));
  t.equal(summary.amateur_tokens, fullSummary.amateur_tokens, 'amateur token totals agree');
  t.same(summary.diagnostics, fullSummary.diagnostics, 'killed + resumed: the same pair diagnostics');
  t.equal(resumed.stderr, '', '--quiet --json: nothing on stderr');
  const human = await runInProcess(common(cut, ['--resume']));
  t.equal(human.code, 0, { stderr: human.stderr });
  t.match(
    human.stdout,
    /^wrote \d+ samples from 40 problems to .*\npair diagnostics: \d+\/\d+ steps selected/,
    'without --json: the summary line and the diagnostics on stdout (a result, even with --quiet)',
  );
});

t.test('bad input', async (t) => {
  const write = (name: string, text: string) => {
    writeFileSync(join(tmp, name), text);
    return join(tmp, name);
  };
  const empty = write('empty.jsonl', '\n');
  const badLine = write('bad.jsonl', '{"question": "What is 2 + 2?"}\n{"answer": 4}\nnot json\n');
  const dup = write('dup.jsonl', '{"id": 1, "question": "a?"}\n{"id": "1", "question": "b?"}\n');
  const otherAmateur = join(tmp, 'amateur-mismatch');
  cpSync(AMATEUR, otherAmateur, { recursive: true });
  const tokPath = join(otherAmateur, 'tokenizer.json');
  const tok = JSON.parse(readFileSync(tokPath, 'utf8'));
  const vocab = tok.model.vocab as Record<string, number>;
  const [a, b] = Object.keys(vocab).filter((k) => vocab[k] === 100 || vocab[k] === 101);
  [vocab[a], vocab[b]] = [vocab[b], vocab[a]];
  writeFileSync(tokPath, JSON.stringify(tok));

  const args = (data: string, out: string, extra: string[] = [], amateur = AMATEUR) => [
    'sample',
    '--expert',
    EXPERT,
    '--amateur',
    amateur,
    '--data',
    data,
    '--out',
    join(tmp, out),
    '--backend',
    'wasm',
    '--max-new-tokens',
    '4',
    '--quiet',
    ...extra,
  ];
  const [missing, emptyR, bad, skipped, dupR, vocabR, beta, noFolder] = await runEachInProcess([
    args(join(tmp, 'nope.jsonl'), 'o1.jsonl'),
    args(empty, 'o2.jsonl'),
    args(badLine, 'o3.jsonl'),
    args(badLine, 'o4.jsonl', ['--skip-invalid', '--json']),
    args(dup, 'o5.jsonl'),
    args(DATA, 'o6.jsonl', [], otherAmateur),
    args(DATA, 'o7.jsonl', ['--beta', 'abc']),
    args(DATA, 'no-such-folder/o8.jsonl'),
  ]);
  t.equal(missing.code, 2, 'missing data file: exit 2');
  t.match(missing.stderr, /--data .*nope\.jsonl: no such file/);
  t.equal(emptyR.code, 2, 'empty data file: exit 2');
  t.match(emptyR.stderr, /no problems \(the file is empty/);
  t.equal(bad.code, 2, 'bad line: exit 2');
  t.match(bad.stderr, /bad\.jsonl:2: no "question" string \(pass --skip-invalid/);
  t.notOk(existsSync(join(tmp, 'o3.jsonl')), 'nothing written on bad input');
  t.equal(skipped.code, 0, '--skip-invalid: exit 0', { stderr: skipped.stderr });
  t.equal(JSON.parse(skipped.stdout).problems, 1, '--skip-invalid keeps the one good problem');
  t.equal(dupR.code, 2, 'duplicate ids: exit 2');
  t.match(dupR.stderr, /dup\.jsonl:2: duplicate id "1" \(first on line 1\)/);
  t.equal(vocabR.code, 2, 'mismatched vocabularies: exit 2');
  t.match(vocabR.stderr, /vocabularies differ: id 100 .*vocab_size 448.*vocab_size 426/);
  t.notOk(existsSync(join(tmp, 'o6.jsonl')), 'refused before any output');
  t.equal(beta.code, 2, '--beta abc: exit 2');
  t.match(beta.stderr, /--beta must be a number/);
  t.equal(noFolder.code, 2, '--out in a missing folder: exit 2');
  t.match(noFolder.stderr, /the output folder .*no-such-folder does not exist: create it/);
});
