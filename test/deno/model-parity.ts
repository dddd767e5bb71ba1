// Deno side of the parity test: `deno run -A test/deno/model-parity.ts [backend…]` prints one JSON
// line per check and exits 1 if any failed. Spawned by test/runtimes.test.ts.
import { nodePlatform } from '../../runtime/platform/node.ts';
import { checkModelParity } from '../portable/model-parity.ts';
import { checkSharded } from '../portable/sharded.ts';

const fixtures = new URL('../fixtures', import.meta.url).pathname;
let failed = 0;
for (const backend of Deno.args.length ? Deno.args : ['wasm', 'webgpu']) {
  await checkModelParity({ platform: nodePlatform, backend: backend as 'wasm' | 'webgpu', fixtures }, (c) => {
    if (!c.ok) failed++;
    console.log(JSON.stringify(c));
  });
}
// A model over several Wasm memories = one memory, bit for bit (issue 29).
if (!Deno.args.length || Deno.args.includes('wasm')) {
  await checkSharded({ platform: nodePlatform, fixtures }, (c) => {
    if (!c.ok) failed++;
    console.log(JSON.stringify(c));
  });
}
Deno.exit(failed ? 1 : 0);
