// Issue 25, item 2: the embedded pair is addressable from an install — defaultPair() gives paths in
// Node/Deno and URLs in a browser; copyDefaultPair copies what a web app serves. (The packed
// install itself: test/packed-install.test.ts.)
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPair as browserDefaultPair } from '../runtime/platform/browser-default-pair.ts';
import { copyDefaultPair, defaultPair } from '../runtime/platform/node-default-pair.ts';
import { DEFAULT_PAIR_FILES } from '../runtime/platform/types.ts';
import { ROOT } from './helpers/cli.ts';

t.test('Node/Deno: absolute paths to the package models/default', async (t) => {
  const p = defaultPair();
  t.equal(p.dir, join(ROOT, 'models', 'default'));
  t.equal(p.expert, join(p.dir, 'expert'));
  t.equal(p.amateur, join(p.dir, 'amateur'));
  for (const f of DEFAULT_PAIR_FILES) t.ok(existsSync(join(p.dir, f)), `${f} exists`);
});

t.test('browser: URLs under the folder the app serves', async (t) => {
  t.same(
    browserDefaultPair('https://example.org/app/models/default'),
    {
      dir: 'https://example.org/app/models/default/',
      expert: 'https://example.org/app/models/default/expert',
      amateur: 'https://example.org/app/models/default/amateur',
      settings: 'https://example.org/app/models/default/settings.json',
    },
    'a folder without the trailing slash is still a folder',
  );
  t.throws(() => browserDefaultPair(), { code: 'BAD_INPUT', message: /no page location/ }, 'no location: says to pass the URL');
  const g = globalThis as { location?: unknown };
  g.location = { href: 'https://example.org/sub/assets/worker-1a2b.js' };
  t.teardown(() => delete g.location);
  t.equal(browserDefaultPair().expert, 'https://example.org/models/default/expert', 'the default is at the origin root, whatever script asks');
  t.equal(browserDefaultPair('/sub/models/default/').amateur, 'https://example.org/sub/models/default/amateur');
});

t.test('copyDefaultPair: the files, byte for byte; a refusal is one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lightreasoner-copy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dest = join(dir, 'public', 'models', 'default');
  t.same(await copyDefaultPair(dest), [...DEFAULT_PAIR_FILES]);
  for (const f of DEFAULT_PAIR_FILES) t.same(readFileSync(join(dest, f)), readFileSync(join(ROOT, 'models', 'default', f)), f);
  t.same(await copyDefaultPair(dest), [...DEFAULT_PAIR_FILES], 'again: replaces its own files');
  await t.rejects(copyDefaultPair(join(dest, 'settings.json', 'x')), {
    code: 'BAD_INPUT',
    message: /settings\.json.*a part of the path is a file|not a directory/,
  });
});
