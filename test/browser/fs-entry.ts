// Browser side of the file-system contract (test/browser-app.test.ts): the in-memory storage, the
// Origin Private File System on the page, and the OPFS inside a Web Worker (where apps run the engine).
import { MemoryFileSystem } from '../../runtime/platform/memory-fs.ts';
import { opfsFileSystem } from '../../runtime/platform/opfs-fs.ts';
import { routedFileSystem } from '../../runtime/platform/browser.ts';
import { checkFileSystemContract } from '../portable/fs-contract.ts';
import { createWorkerEngine } from '../../runtime/engine/worker.ts';
import type { Check } from '../portable/model-parity.ts';

async function contract(where: string): Promise<Check[]> {
  const opfs = await opfsFileSystem(`contract-${where}`);
  await opfs.rm('');
  return [
    ...(await checkFileSystemContract(routedFileSystem(new MemoryFileSystem()), 'mem', `${where}: memory`)),
    ...(await checkFileSystemContract(opfs, 'x', `${where}: opfs`)),
  ];
}

const inWorker = typeof (globalThis as { document?: unknown }).document === 'undefined';
if (inWorker) {
  contract('worker').then(
    (checks) => postMessage(checks),
    (e) => postMessage([{ name: 'worker: contract threw', ok: false, detail: String(e?.stack ?? e) }]),
  );
} else {
  (globalThis as unknown as { runFsContract: unknown }).runFsContract = async () => {
    const page = await contract('page');
    const script = (document.querySelector('script[type=module]') as HTMLScriptElement).src;
    const worker = new Worker(script, { type: 'module' });
    const inside = await new Promise<Check[]>((r) => (worker.onmessage = (e) => r(e.data)));
    worker.terminate();
    return [...page, ...inside.filter((c) => c.name.includes('opfs') || !c.ok), await brokenWorker()];
  };
}

/** A worker engine whose script does not load: calls fail with a clear error instead of hanging. */
async function brokenWorker(): Promise<Check> {
  const engine = createWorkerEngine(new Worker('/no-such-worker.js', { type: 'module' }));
  const outcome = await Promise.race([
    engine.info().then(
      () => 'resolved',
      (e) => `${e?.code}: ${e?.message}`,
    ),
    new Promise<string>((r) => setTimeout(() => r('still pending after 10 s'), 10_000)),
  ]);
  await engine.dispose();
  return {
    name: 'a worker engine whose script fails to load rejects its calls',
    ok: /^BACKEND_UNAVAILABLE: the engine's worker failed/.test(outcome),
    detail: outcome,
  };
}
