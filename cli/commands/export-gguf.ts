// `lightreasoner-wasm export-gguf`: a model directory (optionally with a LoRA adapter merged in) →
// one GGUF file for llama.cpp, Ollama and LM Studio. runtime/gguf/export.ts does the work, atomically.
import { Option, type Command } from 'commander';
import { badInputError, LightReasonerError } from '../../runtime/errors.ts';
import { exportGguf, GGUF_EXPORT_TYPES } from '../../runtime/gguf/export.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { interruptOnSignals, progressLine } from '../progress.ts';
import { addOutputOptions, commandOutput } from '../output.ts';
import { resolveModelOption } from '../resolve.ts';

export function registerExportGguf(program: Command): void {
  const command = program
    .command('export-gguf')
    .description('write a model (optionally with a LoRA adapter merged in) as one GGUF file for llama.cpp, Ollama and LM Studio')
    .requiredOption('--model <dir>', 'model directory (config.json, *.safetensors, tokenizer files); Llama or Qwen2')
    .option('--adapter <dir>', 'a LoRA adapter (PEFT format) to merge into the weights first')
    .addOption(
      new Option('--type <type>', 'weight type: f32, f16, or llama.cpp blocks q8_0 / q4_0 for the attention and MLP matrices')
        .choices([...GGUF_EXPORT_TYPES])
        .makeOptionMandatory(),
    )
    .requiredOption('--out <file>', 'the .gguf file to write (replaced atomically if it exists)');
  addOutputOptions(command, '{out, architecture, type, tensors, quantized, bytes, preTokenizer}').action(async (o) => {
    const fs = nodePlatform.fs;
    const output = commandOutput(o);
    await resolveModelOption(o, 'model');
    if (!(await fs.exists(fs.join(o.model, 'config.json')))) throw badInputError(`--model ${o.model}: not a model directory (no config.json)`);
    if (o.adapter !== undefined && !(await fs.exists(fs.join(o.adapter, 'adapter_config.json'))))
      throw badInputError(`--adapter ${o.adapter}: not an adapter directory (no adapter_config.json)`);
    const interrupt = interruptOnSignals(output.progress, { sigterm: true, quiet: true });
    const bar = progressLine(!output.quiet);
    try {
      const s = await exportGguf(fs, o.model, o.out, {
        type: o.type,
        adapter: o.adapter,
        signal: interrupt.signal,
        onProgress: (p) => bar.update(`exporting ${Math.round((100 * p.written) / Math.max(1, p.total))}%  ${p.tensor}`),
      });
      bar.done();
      output.result(`wrote ${o.out}: ${s.architecture} ${s.type}, ${s.tensors} tensors (${s.quantized} quantized), ${s.bytes} bytes`, s);
    } catch (e) {
      bar.done();
      if (e instanceof LightReasonerError && e.code === 'ABORTED') throw new LightReasonerError('ABORTED', `interrupted: ${o.out} was not written`);
      throw e;
    } finally {
      interrupt.dispose();
    }
  });
}
