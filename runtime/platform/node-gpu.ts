// WebGPU in Node through the `webgpu` package (Dawn), started quietly. Dawn and the Vulkan loader
// write to file descriptor 2 from native code while they look for adapters ("Warning: Vulkan
// shaderUniform*ArrayDynamicIndexing required…", "vkCreateInstance: Found no drivers!", Mesa's
// "error: XDG_RUNTIME_DIR is invalid…"), and Node cannot redirect its own fd 2 without a native
// addon. So the first look happens in a child process whose stderr is captured: only when it finds
// an adapter does this process load Dawn itself (the same environment gives the same adapter, so
// the same silence). The probe costs one short-lived Node process (~0.1–0.3 s, bench/RESULTS.md).
// XDG_RUNTIME_DIR, which Mesa's Vulkan layers want even for headless compute, is pointed at a
// private temporary folder when unset, here and in the child (and in Deno, before navigator.gpu is
// first asked for an adapter: its wgpu loads the same Mesa drivers in-process); the folder is
// removed when the process exits.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the probe saw: an adapter (its name) or none, and what the driver stack said on stderr. */
export interface GPUProbe {
  adapter: string | null;
  /** Dawn's and the Vulkan loader's own lines, de-duplicated (empty when they said nothing). */
  driverSays: string[];
}

// Runs in the child: argv[1] is the webgpu package's URL. One JSON line on stdout.
const PROBE_SOURCE = `
const m = await import(process.argv[1]);
const gpu = m.create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
const i = a?.info ?? {};
process.stdout.write(JSON.stringify({ adapter: a ? [i.description, i.vendor, i.architecture].filter(Boolean).join(' / ') || 'unnamed adapter' : null }) + '\\n');
process.exit(0);
`;

const PROBE_TIMEOUT_MS = 30_000;

/** Give Mesa a private XDG_RUNTIME_DIR when there is none (it only wants the variable to exist). */
export function ensureRuntimeDir(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = mkdtempSync(join(tmpdir(), 'lightreasoner-xdg-'));
  process.env.XDG_RUNTIME_DIR = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
}

/** The driver's lines, without blank lines, Dawn's source locations and repeats. */
export function driverLines(stderr: string): string[] {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !l.startsWith('- While'));
  return [...new Set(lines)];
}

/** Look for a WebGPU adapter in a child process (Node only), capturing everything it prints. */
export function probeDawn(webgpuUrl: string): Promise<GPUProbe> {
  ensureRuntimeDir();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', PROBE_SOURCE, webgpuUrl],
      { timeout: PROBE_TIMEOUT_MS, env: process.env, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        const driverSays = driverLines(String(stderr));
        try {
          const line = String(stdout).trim().split('\n').pop() ?? '';
          resolve({ adapter: (JSON.parse(line) as { adapter: string | null }).adapter, driverSays });
        } catch {
          const why = error
            ? error.killed
              ? `the adapter probe timed out after ${PROBE_TIMEOUT_MS / 1000} s`
              : `the adapter probe failed (${error.message.split('\n')[0]})`
            : 'the adapter probe printed nothing';
          resolve({ adapter: null, driverSays: [why, ...driverSays] });
        }
      },
    );
  });
}
