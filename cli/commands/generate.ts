import { type Command, Option } from 'commander';
import { generateGreedy } from '../../runtime/model/generate.ts';
import type { ChatMessage } from '../../runtime/model/tokenizer.ts';
import { nodePlatform } from '../../runtime/platform/node.ts';
import { openModel } from '../../runtime/session.ts';
import { loadAdapter } from '../../runtime/train/peft.ts';
import { badInputError } from '../../runtime/errors.ts';
import { addQuantizeOptions, backendOption, intOption, requireModelDir } from '../io.ts';
import { progressLine } from '../progress.ts';
import { addOutputOptions, commandOutput } from '../output.ts';
import { resolveModelOption } from '../resolve.ts';

export function registerGenerate(program: Command): void {
  const command = program
    .command('generate')
    .description('greedy decoding from a local Hugging Face model directory (Llama or Qwen2)')
    .requiredOption('--model <dir>', 'model directory (config.json, *.safetensors, tokenizer.json)')
    .option('--prompt <text>', 'plain text prompt (tokenized as tokenizer(text) does)')
    .option('--chat <question>', "user message, wrapped in the model's chat template with the generation prompt")
    .option('--system <text>', 'system message for --chat')
    .option('--adapter <dir>', 'apply a LoRA adapter (PEFT format: adapter_config.json + adapter_model.safetensors) without merging')
    .option('--max-new-tokens <n>', 'tokens to generate at most', intOption('--max-new-tokens', 0), 128)
    .addOption(new Option('--backend <kind>', 'compute backend').argParser(backendOption).default('auto'));
  addOutputOptions(addQuantizeOptions(command), '{text, token_ids, prompt_token_ids}').action(async (o) => {
    const out = commandOutput(o);
    if ((o.prompt === undefined) === (o.chat === undefined)) throw badInputError('give exactly one of --prompt or --chat');
    if (o.system !== undefined && o.chat === undefined) throw badInputError('--system only applies with --chat');
    await resolveModelOption(o, 'model');
    await requireModelDir(nodePlatform.fs, '--model', o.model);
    const bar = progressLine(!out.quiet);
    const model = await openModel(o.model, {
      platform: nodePlatform,
      backend: o.backend,
      quantize: o.quantize,
      onProgress: (p) => bar.update(`loading ${Math.round((100 * p.loaded) / p.total)}%`),
    });
    bar.done();
    try {
      if (o.adapter !== undefined) model.adapter = await loadAdapter(nodePlatform.fs, o.adapter, model);
      const tok = model.tokenizer;
      let promptIds: number[];
      if (o.chat !== undefined) {
        const messages: ChatMessage[] = [];
        if (o.system !== undefined) messages.push({ role: 'system', content: o.system });
        messages.push({ role: 'user', content: o.chat });
        promptIds = tok.encodeChat(messages);
      } else {
        promptIds = tok.encode(o.prompt);
      }
      if (promptIds.length === 0) throw badInputError('the prompt encodes to no tokens');
      const { tokens } = await generateGreedy(model, [promptIds], { maxNewTokens: o.maxNewTokens });
      const text = tok.decode(tokens[0]);
      out.result(text, { text, token_ids: tokens[0], prompt_token_ids: promptIds });
    } finally {
      model.dispose();
    }
  });
}
