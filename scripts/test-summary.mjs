// Print tap's final counts as one "N passed, N failed[, N skipped]" line (for CI's log reader).
import { readFileSync } from 'node:fs';
const text = readFileSync(process.argv[2], 'utf8');
const m = [...text.matchAll(/^# \{ total: (\d+)(.*)\}$/gm)].pop();
if (!m) {
  console.log('0 passed, 1 failed');
  process.exit(0);
}
const field = (k) => Number((m[2].match(new RegExp(`${k}: (\\d+)`)) ?? [0, 0])[1]);
const failed = field('fail');
const skipped = field('skip') + field('todo');
console.log(`${field('pass')} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
