// The human table of a pair-check report (the CLI's stdout; `run --pair-check` prints it on stderr).
// Portable: no host imports.
import type { PairCheckReport, VariantReport } from './pair-check.ts';
import { formatAccuracy, formatPValue } from './stats.ts';
import { TOKEN_KINDS } from './token-kinds.ts';

/** "expert greedy", "CD α 0.2", "CD α 0.2, KL ≥ 1". */
export function variantLabel(v: Pick<VariantReport, 'alpha' | 'beta'>): string {
  if (v.alpha === null) return 'expert greedy';
  return v.beta === null ? `CD α ${v.alpha}` : `CD α ${v.alpha}, KL ≥ ${v.beta}`;
}

const pct = (x: number, of: number) => (of === 0 ? '–' : `${((100 * x) / of).toFixed(1)}%`);

/** Columns padded to their widest cell: the first `left` left-aligned, the rest right-aligned. */
function table(head: string[], rows: string[][], left = 1): string[] {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((x, c) => (c < left ? x.padEnd(widths[c]) : x.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

export function formatPairCheck(r: PairCheckReport): string[] {
  const s = r.settings;
  const lines = [
    `pair-check on ${r.problems} problems (prompt ${s.prompt}, ${s.max_new_tokens} new tokens; ${r.backend}, ${r.seconds.toFixed(1)} s)`,
    `  expert  ${r.models.expert.source}`,
    `  amateur ${r.models.amateur.source}`,
    '',
  ];
  lines.push(
    ...table(
      ['variant', 'accuracy [95% CI]', 'fixed', 'broken', 'McNemar p', 'changed steps', 'changed outputs'],
      r.variants.map((v) => {
        const p = v.paired_vs_greedy;
        return [
          variantLabel(v),
          `${formatAccuracy(v.accuracy, v.ci95)} (${v.correct}/${v.total})`,
          p ? String(p.fixed) : '',
          p ? String(p.broken) : '',
          p ? formatPValue(p.p_value) : '',
          v.alpha === null ? '' : `${v.changes}/${v.steps} (${pct(v.changes, v.steps)})`,
          v.alpha === null ? '' : String(v.changed_outputs),
        ];
      }),
      2,
    ),
  );
  const cd = r.variants.filter((v) => v.alpha !== null);
  lines.push('', "where the contrast changed the choice (kind of the token it chose; of the expert's token it replaced):");
  lines.push(
    ...table(
      ['variant', ...TOKEN_KINDS],
      cd.map((v) => [variantLabel(v), ...TOKEN_KINDS.map((k) => `${pct(v.kinds[k], v.changes)} / ${pct(v.replaced_kinds[k], v.changes)}`)]),
    ),
  );
  lines.push('', 'verdicts (against expert greedy, same problems, exact McNemar test):');
  for (const v of cd) lines.push(`  ${variantLabel(v)}: ${v.verdict!.text}`);
  const lr = r.variants.find((v) => v.name === r.lightreasoner_variant)!;
  const where = lr.beta === null ? 'at every step' : `at the steps LightReasoner selects, KL ≥ ${lr.beta}`;
  if (r.by_kind) {
    lines.push('', `per problem kind (expert greedy → ${variantLabel(lr)}):`);
    lines.push(
      ...table(
        ['kind', 'problems', 'greedy', 'contrast', 'fixed', 'broken', 'McNemar p'],
        r.by_kind.map((k) => [
          k.kind,
          String(k.problems),
          pct(k.greedy, k.problems),
          pct(k.contrast, k.problems),
          String(k.fixed),
          String(k.broken),
          formatPValue(k.p_value),
        ]),
      ),
    );
  }
  lines.push('', `verdict (CD α ${lr.alpha} ${where}): the pair's contrast ${r.verdict.text}`);
  return lines;
}
