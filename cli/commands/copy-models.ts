// `lightreasoner-wasm copy-models DIR`: the embedded default pair's files into DIR, for a web app
// to serve (e.g. `"predev": "lightreasoner-wasm copy-models public/models/default"`); in the page,
// defaultPair() names them. The work is runtime/platform/node-default-pair.ts.
import type { Command } from 'commander';
import { copyDefaultPair } from '../../runtime/platform/node-default-pair.ts';
import { addOutputOptions, commandOutput } from '../output.ts';

export function registerCopyModels(program: Command): void {
  const command = program
    .command('copy-models')
    .description("copy the embedded default pair (expert/, amateur/, settings.json) into DIR, for a web app to serve (e.g. Vite's public/models/default)")
    .argument('<dir>', "destination folder (created; the pair's own files in it are replaced)");
  addOutputOptions(command, '{dir, files}').action(async (dir: string, o: { json?: boolean; quiet?: boolean }) => {
    const files = await copyDefaultPair(dir);
    commandOutput(o).result(`copied ${files.length} files of the embedded default pair into ${dir}`, { dir, files });
  });
}
