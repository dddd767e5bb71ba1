// Runs test/deno/webgpu-kernels.ts (the portable WebGPU kernel checks under Deno: wgpu, on Mesa
// lavapipe by default) and hands each check and the summary back, for tests that want Deno's
// WebGPU beside Node's Dawn (test/kernels-webgpu.test.ts, test/kernels-webgpu-quant.test.ts).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';

export interface DenoKernelRun {
  /** Why it did not run (no ICD file, no adapter), else null. */
  missing: string | null;
  checks: { name: string; ok: boolean; detail: string }[];
  summary: { passed: number; failed: number; device: string; features?: string[] } | null;
  code: number | null;
  /** The end of stderr without Mesa's XDG_RUNTIME_DIR lines, for a failure message. */
  stderr: string;
}

export async function runDenoKernels(args: string[]): Promise<DenoKernelRun> {
  const icd = process.env.LR_DENO_VK_ICD ?? LAVAPIPE_ICD;
  const none = { checks: [], summary: null, code: null, stderr: '' };
  if (!existsSync(icd)) return { missing: `Deno: ${icd} missing`, ...none };
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('npx', ['deno', 'run', '-A', 'test/deno/webgpu-kernels.ts', ...args], {
      cwd: root,
      env: { ...process.env, VK_ICD_FILENAMES: icd, NO_COLOR: '1' },
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const run: DenoKernelRun = {
    ...none,
    missing: null,
    checks: [],
    code,
    stderr: stderr
      .split('\n')
      .filter((l) => !l.includes('XDG_RUNTIME_DIR'))
      .join('\n')
      .slice(-3000),
  };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const rec = JSON.parse(line);
    if (rec.summary && rec.noAdapter) return { ...run, missing: 'Deno: no adapter' };
    if (rec.summary) run.summary = rec;
    else run.checks.push(rec);
  }
  return run;
}
