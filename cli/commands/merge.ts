// `lightreasoner-wasm merge`: fold a PEFT LoRA adapter into its base model, writing a standalone
// Hugging Face model directory (runtime/train/merge.ts does the work, atomically).
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { mergeAdapter } from '../../runtime/train/merge.ts';
import { interruptOnSignals, progressLine } from '../progress.ts';
import { addOutputOptions, commandOutput } from '../output.ts';
import { resolveModelOption } from '../resolve.ts';

export function registerMerge(program: Command): void {
  const command = program
    .command('merge')
    .description('merge a LoRA adapter (PEFT format) into its base model: a standalone model directory in the base dtype')
    .requiredOption('--model <dir>', 'base model directory (config.json, *.safetensors, tokenizer files)')
    .requiredOption('--adapter <dir>', 'adapter directory (adapter_config.json, adapter_model.safetensors)')
    .requiredOption('--out <dir>', 'new model directory (must not exist, or be empty)');
  addOutputOptions(command, '{mergedTensors, copiedTensors, …}').action(async (o) => {
    const fs = nodePlatform.fs;
    const output = commandOutput(o);
    await resolveModelOption(o, 'model');
    for (const [flag, dir, file] of [
      ['--model', o.model, 'config.json'],
      ['--adapter', o.adapter, 'adapter_config.json'],
    ]) {
      if (!(await fs.exists(dir))) throw badInputError(`${flag} ${dir}: no such directory`);
      if (flag === '--model' && !(await fs.exists(fs.join(dir, file)))) throw badInputError(`${flag} ${dir}: not a model directory (no ${file})`);
    }
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(o.out);
    } catch {
      st = undefined;
    }
    if (st && (!st.isDirectory() || (await fs.list!(o.out)).length > 0)) {
      throw badInputError(`--out ${o.out} already exists and is not an empty directory; choose a new directory (merge never overwrites)`);
    }
    // merge never leaves half a model: SIGTERM stops it cleanly too (nothing written).
    const interrupt = interruptOnSignals(output.progress, { sigterm: true, quiet: true });
    const bar = progressLine(!output.quiet);
    try {
      const s = await mergeAdapter(fs, o.model, o.adapter, o.out, {
        signal: interrupt.signal,
        onProgress: (p) => bar.update(`merging ${Math.round((100 * p.written) / p.total)}%  ${p.tensor}`),
      });
      bar.done();
      output.result(`merged ${s.mergedTensors} weights (${s.copiedTensors} copied) into ${o.out}`, s);
    } catch (e) {
      bar.done();
      if (e instanceof LightReasonerError && e.code === 'ABORTED') throw new LightReasonerError('ABORTED', `interrupted: nothing was written to ${o.out}`);
      throw e;
    } finally {
      interrupt.dispose();
    }
  });
}
