import { type Command, Option } from 'commander';
import { createBackend } from '../../runtime/backend/index.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { WasmBackend } from '../../runtime/backend/wasm/index.ts';
import { formatVariant } from '../../runtime/backend/wasm/variants.ts';
import { backendOption } from '../io.ts';
import { addOutputOptions, commandOutput } from '../output.ts';

export function registerInfo(program: Command): void {
  const command = program
    .command('info')
    .description('print the runtime, the backend it would use, the adapter, features and limits')
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'));
  addOutputOptions(command, '{runtime, platform, kind, device, features, limits, …}').action(async (o) => {
    const backend = await createBackend(o.backend, nodePlatform);
    const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
    const info = {
      runtime: deno ? `deno ${deno.version.deno}` : `node ${process.versions.node}`,
      platform: `${process.platform}-${process.arch}`,
      ...backend.info,
      // the Wasm matmul variant this host runs (runtime/backend/wasm/variants.ts)
      ...(backend instanceof WasmBackend ? { matmulVariant: formatVariant(backend.matmulVariant) } : {}),
    };
    backend.destroy();
    commandOutput(o).result(
      [
        `runtime:  ${info.runtime} (${info.platform})`,
        `backend:  ${info.kind}`,
        `device:   ${info.device}`,
        `features: ${info.features.join(', ') || '(none)'}`,
        ...Object.entries(info.limits).map(([k, v]) => `limit:    ${k} = ${v}`),
        ...(info.matmulVariant ? [`matmul:   ${info.matmulVariant} (LIGHTREASONER_WASM_VARIANT forces one)`] : []),
        ...(info.note ? [`note:     ${info.note}`] : []),
      ],
      info,
    );
  });
}
