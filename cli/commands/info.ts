import { type Command, Option } from 'commander';
import { createBackend } from '../../runtime/backend/index.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { WasmBackend } from '../../runtime/backend/wasm/index.ts';
import { formatVariant } from '../../runtime/backend/wasm/variants.ts';
import { backendOption } from '../io.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the runtime, the backend it would use, the adapter, features and limits')
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'))
    .option('--json', 'print JSON')
    .action(async (o) => {
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
      if (o.json) console.log(JSON.stringify(info));
      else {
        console.log(`runtime:  ${info.runtime} (${info.platform})`);
        console.log(`backend:  ${info.kind}`);
        console.log(`device:   ${info.device}`);
        console.log(`features: ${info.features.join(', ') || '(none)'}`);
        for (const [k, v] of Object.entries(info.limits)) console.log(`limit:    ${k} = ${v}`);
        if (info.matmulVariant) console.log(`matmul:   ${info.matmulVariant} (LIGHTREASONER_WASM_VARIANT forces one)`);
        if (info.note) console.log(`note:     ${info.note}`);
      }
    });
}
