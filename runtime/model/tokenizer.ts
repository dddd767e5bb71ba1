// Tokenizer and chat template: `@huggingface/tokenizers` reads tokenizer.json, `@huggingface/jinja`
// renders the chat template, exactly as transformers' `apply_chat_template` would.

import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { modelFormatError } from '../errors.ts';
import type { FileSystem } from '../platform/types.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export class ModelTokenizer {
  private readonly template: Template | null;
  private readonly specialTokens: Record<string, string>;

  constructor(
    private readonly tokenizer: Tokenizer,
    readonly config: Record<string, unknown>,
    readonly chatTemplate: string | null,
    private readonly dir: string,
  ) {
    this.template = chatTemplate ? new Template(chatTemplate) : null;
    this.specialTokens = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const v = config[key];
      const s = typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content;
      if (typeof s === 'string') this.specialTokens[key] = s;
    }
  }

  /** Number of ids the tokenizer can produce (base vocabulary plus added tokens). */
  get size(): number {
    let max = -1;
    for (const id of this.tokenizer.get_vocab(true).values()) if (id > max) max = id;
    return max + 1;
  }

  /** The token string of an id (undefined when the id is not in the vocabulary). */
  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id) ?? undefined;
  }

  /** Like HF `tokenizer(text).input_ids`: the post-processor's special tokens are added by default. */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: number[], skipSpecialTokens = false): string {
    if (ids.length === 0) return '';
    // HF decode does not clean up spaces for these (byte-level) tokenizers unless configured.
    return this.tokenizer.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: this.config.clean_up_tokenization_spaces === true });
  }

  /** The chat template rendered with the generation prompt (a string, not yet tokenized). */
  renderChat(messages: ChatMessage[], addGenerationPrompt = true): string {
    if (!this.template) {
      throw modelFormatError(this.dir, 'this model has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja); use --prompt with plain text instead');
    }
    return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, ...this.specialTokens });
  }

  /** Like HF `apply_chat_template(messages, add_generation_prompt=True, tokenize=True)`. */
  encodeChat(messages: ChatMessage[]): number[] {
    return this.encode(this.renderChat(messages), false);
  }
}

export async function loadTokenizer(fs: FileSystem, dir: string): Promise<ModelTokenizer> {
  const tokPath = fs.join(dir, 'tokenizer.json');
  const cfgPath = fs.join(dir, 'tokenizer_config.json');
  let json: object;
  try {
    json = JSON.parse(await fs.readText(tokPath));
  } catch (e) {
    if (e instanceof SyntaxError) throw modelFormatError(tokPath, 'not valid JSON', e);
    throw e;
  }
  let config: Record<string, unknown> = {};
  if (await fs.exists(cfgPath)) {
    try {
      config = JSON.parse(await fs.readText(cfgPath));
    } catch (e) {
      throw modelFormatError(cfgPath, 'not valid JSON', e);
    }
  }
  let template: string | null = null;
  const jinjaPath = fs.join(dir, 'chat_template.jinja');
  if (await fs.exists(jinjaPath)) template = await fs.readText(jinjaPath);
  else if (typeof config.chat_template === 'string') template = config.chat_template;
  else if (Array.isArray(config.chat_template)) {
    // Some checkpoints store named templates; "default" is the one apply_chat_template uses.
    const named = config.chat_template as { name: string; template: string }[];
    template = (named.find((t) => t.name === 'default') ?? named[0])?.template ?? null;
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw modelFormatError(tokPath, `cannot build the tokenizer: ${(e as Error).message}`, e);
  }
  return new ModelTokenizer(tokenizer, config, template, dir);
}
