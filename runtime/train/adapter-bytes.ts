// Adapters as bytes, for hosts without a user-visible file system (a web app): export the PEFT
// files of an adapter directory (also as one .zip, which `peft` users unpack and load with
// PeftModel.from_pretrained), and load an adapter from those bytes or from a URL.
// The zip container comes from fflate (maintained, small, no dependencies); entries are stored
// uncompressed: safetensors weights do not compress, and stored entries keep the zip byte-stable.
import { unzipSync, zipSync } from 'fflate';
import { LightReasonerError, modelFormatError } from '../errors.ts';
import type { CausalLM } from '../model/model.ts';
import { MemoryFileSystem } from '../platform/memory-fs.ts';
import type { FileSystem } from '../platform/types.ts';
import type { LoraAdapter } from './lora.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadAdapter } from './peft.ts';

/** The two files PEFT reads, by name. */
export type AdapterFiles = Record<typeof ADAPTER_CONFIG | typeof ADAPTER_WEIGHTS, Uint8Array>;

export interface ExportedAdapter {
  files: AdapterFiles;
  /** Both files in one zip archive (stored entries, a fixed timestamp: the same adapter gives the same bytes). */
  zip: Uint8Array;
}

const FIXED_MTIME = new Date(Date.UTC(2024, 0, 1));

/** Read an adapter directory's PEFT files (as written by finetune / saveAdapter) as bytes. */
export async function exportAdapter(fs: FileSystem, dir: string): Promise<ExportedAdapter> {
  const files = {} as AdapterFiles;
  for (const name of [ADAPTER_CONFIG, ADAPTER_WEIGHTS] as const) {
    const path = fs.join(dir, name);
    if (!(await fs.exists(path)))
      throw new LightReasonerError('NOT_FOUND', `${path}: not found (is ${dir} an adapter directory written by finetune or run?)`, { file: path });
    files[name] = await fs.readBytes(path);
  }
  const zip = zipSync({
    [ADAPTER_CONFIG]: [files[ADAPTER_CONFIG], { level: 0, mtime: FIXED_MTIME }],
    [ADAPTER_WEIGHTS]: [files[ADAPTER_WEIGHTS], { level: 0, mtime: FIXED_MTIME }],
  });
  return { files, zip };
}

const isZip = (b: Uint8Array) => b.byteLength >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;

/** The PEFT files from a zip made by exportAdapter (or any zip holding them, at its root or in one folder). */
export function adapterFilesFromZip(zip: Uint8Array, name = 'adapter.zip'): AdapterFiles {
  if (!isZip(zip)) throw modelFormatError(name, 'not a zip archive (expected the adapter .zip that exportAdapter writes)');
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip);
  } catch (e) {
    throw modelFormatError(name, `cannot read the zip archive (${String((e as Error)?.message ?? e)})`, e);
  }
  const files = {} as AdapterFiles;
  for (const want of [ADAPTER_CONFIG, ADAPTER_WEIGHTS] as const) {
    const hit = Object.keys(entries).filter((k) => k === want || k.endsWith(`/${want}`));
    if (hit.length !== 1) throw modelFormatError(name, hit.length ? `holds ${hit.length} files named ${want}; expected one adapter` : `has no ${want}`);
    files[want] = entries[hit[0]];
  }
  return files;
}

/** Load an adapter onto `model` from bytes: the two PEFT files, or the zip exportAdapter makes. */
export async function loadAdapterFromBytes(bytes: AdapterFiles | Uint8Array, model: CausalLM): Promise<LoraAdapter> {
  const files = bytes instanceof Uint8Array ? adapterFilesFromZip(bytes) : bytes;
  const mem = new MemoryFileSystem();
  for (const name of [ADAPTER_CONFIG, ADAPTER_WEIGHTS] as const) {
    if (!(files[name] instanceof Uint8Array))
      throw new LightReasonerError('BAD_INPUT', `the adapter's ${name} is missing (give both ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS} as bytes)`);
    await mem.writeFileAtomic(mem.join('adapter', name), files[name]);
  }
  return loadAdapter(mem, 'adapter', model);
}
