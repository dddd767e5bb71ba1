// Tokenizer and chat template: `@huggingface/tokenizers` reads tokenizer.json, `@huggingface/jinja`
// renders the chat template, exactly as transformers' `apply_chat_template` would.
//
// Both run code from the model's files (the tokenizer's regexes, the template), so every render and
// encode runs under a wall-clock deadline (platform/deadline.ts: a regex that backtracks
// catastrophically is stopped, not waited for) and the template under a step and size budget
// (chat-template.ts); either ends in an error naming the file.

import { Tokenizer } from '@huggingface/tokenizers';
import { modelFormatError, unsupportedError } from '../errors.ts';
import { readOptionalText, type WarningSink } from '../io/optional-file.ts';
import { DeadlineExceeded, withDeadline } from '../platform/deadline.ts';
import type { FileSystem } from '../platform/types.ts';
import { isObject, jsonKind, show } from '../util/json.ts';
import { ChatTemplate, TemplateBudgetExceeded } from './chat-template.ts';

/** Longest a render or an encode may take: far above any real prompt (a 1 MiB text encodes in
 * well under a second), short enough that a hostile file is reported rather than waited on. */
const TOKENIZER_DEADLINE_MS = 5000;

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export class ModelTokenizer {
  private readonly template: ChatTemplate | null;
  private readonly specialTokens: Record<string, string>;

  constructor(
    private readonly tokenizer: Tokenizer,
    readonly config: Record<string, unknown>,
    readonly chatTemplate: string | null,
    private readonly dir: string,
    /** The file the chat template came from (tokenizer_config.json or chat_template.jinja), for messages. */
    private readonly templateFile = dir,
    /** tokenizer.json, for messages. */
    private readonly tokenizerFile = dir,
  ) {
    this.template = chatTemplate ? compileTemplate(chatTemplate, templateFile) : null;
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
    try {
      return withDeadline(() => this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids, TOKENIZER_DEADLINE_MS);
    } catch (e) {
      if (!(e instanceof DeadlineExceeded)) throw e;
      throw modelFormatError(
        this.tokenizerFile,
        `tokenizing a text of ${text.length} characters took more than ${TOKENIZER_DEADLINE_MS / 1000} s and was stopped: a regex of the tokenizer (pre_tokenizer or normalizer "Regex" pattern) ` +
          "is probably backtracking catastrophically; use the model's original tokenizer.json",
        e,
      );
    }
  }

  decode(ids: number[], skipSpecialTokens = false): string {
    if (ids.length === 0) return '';
    // HF decode does not clean up spaces for these (byte-level) tokenizers unless configured.
    return this.tokenizer.decode(ids, {
      skip_special_tokens: skipSpecialTokens,
      clean_up_tokenization_spaces: this.config.clean_up_tokenization_spaces === true,
    });
  }

  /** The chat template rendered with the generation prompt (a string, not yet tokenized). */
  renderChat(messages: ChatMessage[], addGenerationPrompt = true): string {
    if (!this.template) {
      throw modelFormatError(
        this.dir,
        'this model has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja); use --prompt with plain text instead',
      );
    }
    const template = this.template;
    try {
      return withDeadline(() => template.render({ messages, add_generation_prompt: addGenerationPrompt, ...this.specialTokens }), TOKENIZER_DEADLINE_MS);
    } catch (e) {
      if (e instanceof TemplateBudgetExceeded)
        throw modelFormatError(this.templateFile, `chat_template was stopped while rendering the messages: ${e.message}`, e);
      if (e instanceof DeadlineExceeded)
        throw modelFormatError(this.templateFile, `chat_template took more than ${TOKENIZER_DEADLINE_MS / 1000} s to render the messages and was stopped`, e);
      // Templates call raise_exception(...) to refuse a conversation (say, a system message); the
      // interpreter throws plain Errors for that and for its own failures alike (a RangeError for
      // a string too long to exist among them), so both land here.
      throw modelFormatError(this.templateFile, `chat_template failed to render the messages: ${(e as Error).message}`, e);
    }
  }

  /** Like HF `apply_chat_template(messages, add_generation_prompt=True, tokenize=True)`. */
  encodeChat(messages: ChatMessage[]): number[] {
    return this.encode(this.renderChat(messages), false);
  }
}

/** Compiled here so a syntax error is reported at load time, naming the file, not as a stack trace. */
function compileTemplate(source: string, file: string): ChatTemplate {
  try {
    return new ChatTemplate(source);
  } catch (e) {
    throw modelFormatError(file, `chat_template is not a valid Jinja template: ${(e as Error).message}`, e);
  }
}

// The tokenizer models @huggingface/tokenizers implements. Given another `type`, it guesses from the
// vocabulary's shape (falling back to a "Legacy" word lookup), which would tokenize silently wrong.
const TOKENIZER_MODELS = ['BPE', 'WordPiece', 'Unigram'];

function checkTokenizerJson(json: unknown, file: string): asserts json is Record<string, unknown> {
  if (!isObject(json)) throw modelFormatError(file, `must hold a JSON object (a tokenizers library tokenizer.json), got ${jsonKind(json)}`);
  const model = json.model;
  if (!isObject(model)) throw modelFormatError(file, `model must be an object describing the tokenizer model (type, vocab, …), got ${show(model)}`);
  const type = model.type;
  if (type === undefined) return; // pre-"type" files: the library infers the model from its fields
  if (type === 'WordLevel') throw unsupportedError(file, `model.type "WordLevel" is not supported (supported: ${TOKENIZER_MODELS.join(', ')})`);
  if (typeof type !== 'string' || !TOKENIZER_MODELS.includes(type)) {
    throw modelFormatError(file, `model.type must be one of ${TOKENIZER_MODELS.join(', ')}, got ${show(type)}`);
  }
  const vocabOk = type === 'Unigram' ? Array.isArray(model.vocab) : isObject(model.vocab);
  if (!vocabOk)
    throw modelFormatError(
      file,
      `model.vocab must be ${type === 'Unigram' ? 'a list of [token, score] pairs' : 'an object mapping tokens to ids'} for a ${type} model, got ${show(model.vocab)}`,
    );
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw modelFormatError(path, 'not valid JSON', e);
  }
}

/**
 * The chat template: chat_template.jinja wins over tokenizer_config.json's chat_template, as in
 * transformers (which is why the .jinja file is looked for even when the config has a template).
 */
async function readChatTemplate(
  fs: FileSystem,
  dir: string,
  config: Record<string, unknown>,
  cfgPath: string,
  onWarning?: WarningSink,
): Promise<{ template: string | null; file: string }> {
  const jinjaPath = fs.join(dir, 'chat_template.jinja');
  const jinja = await readOptionalText(fs, jinjaPath, onWarning);
  if (jinja !== null) return { template: jinja, file: jinjaPath };
  const t = config.chat_template;
  if (t === undefined || t === null || typeof t === 'string') return { template: t ?? null, file: cfgPath };
  // Some checkpoints store named templates; "default" is the one apply_chat_template uses.
  const named = Array.isArray(t) && t.every((x) => isObject(x) && typeof x.name === 'string' && typeof x.template === 'string');
  if (!named) throw modelFormatError(cfgPath, `chat_template must be a string or a list of {"name", "template"} objects, got ${show(t)}`);
  const list = t as { name: string; template: string }[];
  return { template: (list.find((x) => x.name === 'default') ?? list[0])?.template ?? null, file: cfgPath };
}

/** `onWarning`: told when an optional file (tokenizer_config.json, chat_template.jinja) is taken as absent. */
export async function loadTokenizer(fs: FileSystem, dir: string, opts: { onWarning?: WarningSink } = {}): Promise<ModelTokenizer> {
  const tokPath = fs.join(dir, 'tokenizer.json');
  const cfgPath = fs.join(dir, 'tokenizer_config.json');
  const json = parseJson(await fs.readText(tokPath), tokPath);
  checkTokenizerJson(json, tokPath);
  const cfgText = await readOptionalText(fs, cfgPath, opts.onWarning);
  const config = cfgText === null ? {} : parseJson(cfgText, cfgPath);
  if (!isObject(config)) throw modelFormatError(cfgPath, `must hold a JSON object, got ${jsonKind(config)}`);
  const { template, file } = await readChatTemplate(fs, dir, config, cfgPath, opts.onWarning);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw modelFormatError(tokPath, `cannot build the tokenizer: ${(e as Error).message}`, e);
  }
  return new ModelTokenizer(tokenizer, config, template, dir, file, tokPath);
}
