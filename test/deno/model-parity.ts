// Deno side of the parity test: `deno run -A test/deno/model-parity.ts [backend…]` prints one JSON
// line per check and exits 1 if any failed. Spawned by test/runtimes.test.ts.
import { nodePlatform } from '../../runtime/platform/node.ts';
import { checkModelParity } from '../portable/model-parity.ts';

const fixtures = new URL('../fixtures', import.meta.url).pathname;
let failed = 0;
for (const backend of Deno.args.length ? Deno.args : ['wasm', 'webgpu']) {
  await checkModelParity({ platform: nodePlatform, backend: backend as 'wasm' | 'webgpu', fixtures }, (c) => {
    if (!c.ok) failed++;
    console.log(JSON.stringify(c));
  });
}
Deno.exit(failed ? 1 : 0);
