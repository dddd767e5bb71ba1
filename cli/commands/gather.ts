// `lightreasoner-wasm gather S.jsonl`: join the shard files that `sample --shard` or `eval --shard`
// wrote (S.shard-0000I-of-0000N.jsonl and their side files) into S.jsonl and its summary, as one
// unsharded run would have written them. The work is runtime/shard/gather.ts.
import type { Command } from 'commander';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { gatherShards } from '../../runtime/shard/gather.ts';
import { addOutputOptions, commandOutput } from '../output.ts';

export function registerGather(program: Command): void {
  const command = program
    .command('gather')
    .description('join the shard files of a sharded sample or eval run into the file one run would have written')
    .argument('<out>', 'the --out the shards were run with (S.jsonl: reads S.shard-*-of-*.jsonl)')
    .option('--overwrite', 'replace an existing OUT and its side files')
    .addHelpText(
      'after',
      `
Every shard must be there and finished, with the same settings, models, data and shard count;
otherwise nothing is written and the offending files are named. The data file is the shards'
files joined in index order — the bytes an unsharded run writes; the summary (OUT.summary.json,
and for sample OUT.state.json) totals the shards, sums their timings and lists them.
The shard files are kept.`,
    );
  addOutputOptions(command, 'the gathered summary (OUT.summary.json)').action(
    async (out: string, o: { overwrite?: boolean; quiet?: boolean; json?: boolean }) => {
      const r = await gatherShards(nodePlatform.fs, out, { overwrite: o.overwrite });
      const what =
        r.kind === 'sample'
          ? `${r.summary.selected_steps} samples from ${r.summary.problems} problems`
          : `${r.summary.total} results (${r.summary.correct} correct)`;
      commandOutput(o).result(`gathered ${r.shards} shards into ${out}: ${what}`, r.summary);
    },
  );
}
