// llama.cpp itself for tests, through node-llama-cpp (npm; ships llama.cpp prebuilt). Installed on
// demand into test/.llama-cpp/ (ignored by git), never into the package's node_modules: it is ~85 MB
// with only the CPU build of this platform (the GPU builds, optional dependencies, are left out).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './cli.ts';

export const NODE_LLAMA_CPP_VERSION = '3.22.1';
export const LLAMA_CPP_DIR = join(ROOT, 'test', '.llama-cpp');

/** The CPU prebuilt package of this platform (node-llama-cpp's optional dependencies). */
function prebuiltPackage(): string | null {
  const map: Record<string, string> = {
    'linux-x64': 'linux-x64',
    'linux-arm64': 'linux-arm64',
    'darwin-arm64': 'mac-arm64-metal',
    'darwin-x64': 'mac-x64',
    'win32-x64': 'win-x64',
    'win32-arm64': 'win-arm64',
  };
  const p = map[`${process.platform}-${process.arch}`];
  return p ? `@node-llama-cpp/${p}` : null;
}

const installedVersion = () => {
  const pkg = join(LLAMA_CPP_DIR, 'node_modules', 'node-llama-cpp', 'package.json');
  return existsSync(pkg) ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version : null;
};

/** Install the pinned node-llama-cpp when missing; null when ready, else why not. */
export function ensureNodeLlamaCpp(): { error: string | null; installedSeconds?: number } {
  if (installedVersion() === NODE_LLAMA_CPP_VERSION) return { error: null };
  const prebuilt = prebuiltPackage();
  if (!prebuilt) return { error: `node-llama-cpp has no prebuilt llama.cpp for ${process.platform}-${process.arch}` };
  mkdirSync(LLAMA_CPP_DIR, { recursive: true });
  const pkg = join(LLAMA_CPP_DIR, 'package.json');
  if (!existsSync(pkg))
    writeFileSync(pkg, JSON.stringify({ private: true, description: 'node-llama-cpp for test/gguf-llama-cpp.test.ts (installed by the test)' }) + '\n');
  const t0 = Date.now();
  // --ignore-scripts: its postinstall would look for (and offer to build) other binaries; the
  // prebuilt package is all the tests load (getLlama({ build: 'never' })).
  const r = spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      LLAMA_CPP_DIR,
      '--no-save',
      '--no-package-lock',
      '--ignore-scripts',
      '--omit=optional',
      '--no-audit',
      '--no-fund',
      `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`,
      `${prebuilt}@${NODE_LLAMA_CPP_VERSION}`,
    ],
    { encoding: 'utf8', timeout: 300_000, shell: process.platform === 'win32' },
  );
  if (r.status !== 0 || installedVersion() !== NODE_LLAMA_CPP_VERSION)
    return {
      error: `npm install node-llama-cpp@${NODE_LLAMA_CPP_VERSION} failed: ${(r.stderr || String(r.error ?? '')).trim().split('\n').slice(-3).join(' ')}`,
    };
  return { error: null, installedSeconds: (Date.now() - t0) / 1000 };
}

/** The few parts of node-llama-cpp's API the tests use (its types are not installed for tsc). */
export interface LlamaCpp {
  getLlama(o: { gpu: false; build: 'never'; logLevel: string }): Promise<Llama>;
}
export interface Llama {
  loadModel(o: { modelPath: string }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}
export interface LlamaModel {
  createContext(o: { contextSize: number; batchSize?: number; threads?: number }): Promise<{ getSequence(): LlamaSequence; dispose(): Promise<void> }>;
  tokenize(text: string, specialTokens?: boolean): number[];
  dispose(): Promise<void>;
}
export interface LlamaSequence {
  evaluate(tokens: number[], o: { temperature: number; yieldEogToken?: boolean }): AsyncGenerator<number>;
  clearHistory(): Promise<void>;
}

export async function importNodeLlamaCpp(): Promise<LlamaCpp> {
  return (await import(pathToFileURL(join(LLAMA_CPP_DIR, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href)) as LlamaCpp;
}

/** Greedy continuation of `prompt` (token ids) in llama.cpp: `n` tokens, running on past an
 * end-of-generation token as our generate does with no eos ids (yieldEogToken). */
export async function llamaCppGreedy(seq: LlamaSequence, prompt: number[], n: number): Promise<number[]> {
  await seq.clearHistory();
  const out: number[] = [];
  for await (const tok of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    out.push(tok);
    if (out.length >= n) break;
  }
  return out;
}
