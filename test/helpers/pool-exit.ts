// Run by test/output-convention.test.ts in Node and in Deno: a Wasm thread pool whose worker is
// asked to quit without being terminated, so it runs its own exit path to the end.
//   clean: the worker leaves as it should — the process must exit 0 with nothing on stderr
//          (Deno's worker_threads port has no close(): calling it was an uncaught worker error);
//   throw: the worker throws on its way out — the process must not exit 0.
import { readFileSync } from 'node:fs';
import { nodeWorkerHost } from '../../runtime/platform/node.ts';
import { controlBytes, Pool } from '../../runtime/backend/wasm/pool.ts';

const mode = process.argv[process.argv.length - 1];
/** The worker script with a throw where it leaves its loop (the line after the QUIT break). */
function throwing(source: string): string {
  const at = "// Node's parentPort";
  if (!source.includes(at)) throw new Error(`pool-exit.ts: the worker source has no "${at}" line to put the throw before`);
  return source.replace(at, `throw new Error('worker failed on its way out'); ${at}`);
}
const host = mode === 'throw' ? { ...nodeWorkerHost, spawn: (source: string) => nodeWorkerHost.spawn(throwing(source)) } : nodeWorkerHost;
const module = new WebAssembly.Module(readFileSync(new URL('../../build/kernels-threads.wasm', import.meta.url)));
const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
const control = 1024;
await Pool.start(host, module, memory, control, 2);
// QUIT and a new SEQ, as Pool.close() does, but without terminating the worker (word offsets: pool.ts)
const ctl = new Int32Array(memory.buffer, control, controlBytes(2) / 4);
Atomics.store(ctl, 2, 1);
Atomics.add(ctl, 0, 1);
Atomics.notify(ctl, 0);
await new Promise((resolve) => setTimeout(resolve, 1500));
process.stdout.write('done\n');
