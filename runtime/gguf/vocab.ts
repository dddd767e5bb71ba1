// The tokenizer as llama.cpp reads it from GGUF (tokenizer.ggml.* keys), built from the model's
// tokenizer.json / tokenizer_config.json the way llama.cpp's converter does it for byte-level BPE
// vocabularies (convert_hf_to_gguf.py get_vocab_base + _set_vocab_gpt2, gguf-py vocab.py SpecialVocab):
// - tokens: the vocabulary's (byte-level encoded) strings by id, padded to config.vocab_size with
//   "[PAD<id>]" entries of type UNUSED; token_type NORMAL, or CONTROL for special added tokens (and
//   added ones that look special, "<|…|>"), USER_DEFINED for the other added tokens;
// - merges as "a b" strings (a space inside a part written as U+0120, as gguf-py does);
// - tokenizer.ggml.pre: llama.cpp's name for the pre-tokenizer. The converter finds it from a hash
//   of encoding a test string, which only knows published tokenizers; here it is read from the
//   tokenizer.json structure instead, accepting only the shapes whose split rules equal one of
//   llama.cpp's (llama-vocab.cpp's regex lists), so a model is never exported with a pre-tokenizer
//   that splits text differently from ours;
// - bos/eos/unk/pad ids from tokenizer_config.json's tokens (by their added-token ids), else
//   config.json's *_token_id; add_bos_token/add_eos_token as tokenizer_config.json says (else from
//   the post-processor: does it put a special token first?); the chat template the runtime uses.

import { modelFormatError, unsupportedError } from '../errors.ts';
import { readOptionalText } from '../io/optional-file.ts';
import { loadTokenizer } from '../model/tokenizer.ts';
import type { FileSystem } from '../platform/types.ts';
import { isObject } from '../util/json.ts';
import { type GgufValue, TOKEN_TYPE } from './format.ts';

/** The Split regexes of Qwen2 and Llama 3 tokenizer.json files, as those files spell them. */
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;
const isByteLevel = (p: unknown, useRegex: boolean) =>
  isObject(p) && p.type === 'ByteLevel' && (p.use_regex ?? true) === useRegex && p.add_prefix_space !== true;
const isSplit = (p: unknown, regex: string) =>
  isObject(p) && p.type === 'Split' && isObject(p.pattern) && p.pattern.Regex === regex && p.behavior === 'Isolated' && p.invert !== true;

/** The pre-tokenizers llama.cpp implements whose splitting equals these tokenizer.json shapes. */
const KNOWN_PRE: ReadonlyArray<{ name: string; example: string; matches(pre: unknown): boolean }> = [
  // llama.cpp "smollm": \p{N}, then the GPT-2 regex ('s|'t|…| ?\p{L}+| ?\p{N}+|…), which is what
  // Digits(individual_digits) followed by ByteLevel(use_regex: true) split with; "gpt-2": that regex alone.
  {
    name: 'smollm',
    example: 'SmolLM/SmolLM2',
    matches: (p) =>
      isObject(p) &&
      p.type === 'Sequence' &&
      Array.isArray(p.pretokenizers) &&
      p.pretokenizers.length === 2 &&
      isObject(p.pretokenizers[0]) &&
      p.pretokenizers[0].type === 'Digits' &&
      p.pretokenizers[0].individual_digits === true &&
      isByteLevel(p.pretokenizers[1], true),
  },
  { name: 'gpt-2', example: 'GPT-2', matches: (p) => isByteLevel(p, true) },
  {
    name: 'qwen2',
    example: 'Qwen2/Qwen2.5',
    matches: (p) =>
      isObject(p) &&
      p.type === 'Sequence' &&
      Array.isArray(p.pretokenizers) &&
      p.pretokenizers.length === 2 &&
      isSplit(p.pretokenizers[0], QWEN2_SPLIT) &&
      isByteLevel(p.pretokenizers[1], false),
  },
  {
    name: 'llama-bpe',
    example: 'Llama 3',
    matches: (p) =>
      isObject(p) &&
      p.type === 'Sequence' &&
      Array.isArray(p.pretokenizers) &&
      p.pretokenizers.length === 2 &&
      isSplit(p.pretokenizers[0], LLAMA3_SPLIT) &&
      isByteLevel(p.pretokenizers[1], false),
  },
];

function parseJson(text: string, file: string): Json {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw modelFormatError(file, 'not valid JSON', e);
  }
  if (!isObject(j)) throw modelFormatError(file, 'must hold a JSON object');
  return j;
}

/** llama.cpp's pre-tokenizer name for this tokenizer.json, or an UNSUPPORTED error naming the known ones. */
export function preTokenizerName(tok: Json, file: string): string {
  const hit = KNOWN_PRE.find((k) => k.matches(tok.pre_tokenizer));
  if (hit) return hit.name;
  const known = KNOWN_PRE.map((k) => `${k.name} (${k.example})`).join(', ');
  throw unsupportedError(
    file,
    `pre_tokenizer ${JSON.stringify(tok.pre_tokenizer)?.slice(0, 200)} matches none of the llama.cpp pre-tokenizers this exporter can name (${known}); llama.cpp would split text differently from this tokenizer — export a model whose tokenizer.json uses one of them`,
  );
}

/** gguf-py SpecialVocab's merges: "a b", a space inside a part as U+0120. */
function mergeStrings(merges: unknown, file: string): string[] {
  if (!Array.isArray(merges)) throw modelFormatError(file, 'model.merges must be a list');
  return merges.map((m) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string')) return m.map((x: string) => x.replaceAll(' ', '\u0120')).join(' ');
    throw modelFormatError(file, `model.merges holds ${JSON.stringify(m)}, neither "a b" nor ["a", "b"]`);
  });
}

const looksSpecial = (t: string) =>
  ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) ||
  (t.startsWith('<|') && t.endsWith('|>')) ||
  (t.startsWith('<｜') && t.endsWith('｜>')) ||
  (t.startsWith('<unused') && t.endsWith('>'));

function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return null;
}

/** Whether the post-processor puts a special token before the text (TemplateProcessing's "single"). */
function postProcessorAddsBos(tok: Json): boolean {
  const pp = tok.post_processor;
  const list = isObject(pp) ? (Array.isArray(pp.processors) ? pp.processors : [pp]) : [];
  return list.some(
    (p) =>
      isObject(p) &&
      p.type === 'TemplateProcessing' &&
      Array.isArray(p.single) &&
      p.single.length > 1 &&
      isObject(p.single[0]) &&
      isObject(p.single[0].SpecialToken),
  );
}

/** The tokenizer.* metadata of a GGUF file for the model at `dir`, `vocabSize` (config.json) entries long. */
export async function tokenizerMetadata(fs: FileSystem, dir: string, vocabSize: number, rawConfig: Json): Promise<[string, GgufValue][]> {
  const tokPath = fs.join(dir, 'tokenizer.json');
  const cfgPath = fs.join(dir, 'tokenizer_config.json');
  const tok = parseJson(await fs.readText(tokPath), tokPath);
  const cfgText = await readOptionalText(fs, cfgPath);
  const tcfg = cfgText === null ? {} : parseJson(cfgText, cfgPath);
  const model = tok.model;
  if (!isObject(model) || model.type !== 'BPE' || !isObject(model.vocab))
    throw unsupportedError(tokPath, 'GGUF export supports byte-level BPE tokenizers (model.type "BPE"), as SmolLM2, Llama 3 and Qwen2.5 ship');
  const pre = preTokenizerName(tok, tokPath);
  // llama.cpp's BPE applies no normalizer. NFC (Qwen2.5's) only changes text that is not already
  // composed, as llama.cpp's converter accepts too; anything else (lowercasing, replacements) would
  // make llama.cpp tokenize differently from this tokenizer.
  const norm = tok.normalizer;
  if (norm !== null && norm !== undefined && !(isObject(norm) && norm.type === 'NFC')) {
    throw unsupportedError(
      tokPath,
      `normalizer ${JSON.stringify(norm).slice(0, 120)} is not applied by llama.cpp's BPE tokenizer (only none or NFC export faithfully) — export a model whose tokenizer.json has none`,
    );
  }

  const byId = new Map<number, string>();
  for (const [t, id] of Object.entries(model.vocab)) if (typeof id === 'number') byId.set(id, t);
  const added = new Map<number, { content: string; special: boolean }>();
  for (const a of Array.isArray(tok.added_tokens) ? tok.added_tokens : []) {
    if (isObject(a) && typeof a.id === 'number' && typeof a.content === 'string') {
      added.set(a.id, { content: a.content, special: a.special === true });
      byId.set(a.id, a.content);
    }
  }
  const maxId = Math.max(-1, ...byId.keys());
  if (maxId >= vocabSize) throw modelFormatError(tokPath, `token id ${maxId} is outside config.json's vocab_size ${vocabSize}`);
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const t = byId.get(i);
    const a = added.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(TOKEN_TYPE.unused);
    } else if (a) {
      tokens.push(t);
      types.push(a.special || looksSpecial(t) ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
    } else {
      tokens.push(t);
      types.push(TOKEN_TYPE.normal);
    }
  }

  const meta: [string, GgufValue][] = [
    ['tokenizer.ggml.model', { kind: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { kind: 'string', value: pre }],
    ['tokenizer.ggml.tokens', { kind: 'array', itemKind: 'string', values: tokens }],
    ['tokenizer.ggml.token_type', { kind: 'array', itemKind: 'i32', values: types }],
    ['tokenizer.ggml.merges', { kind: 'array', itemKind: 'string', values: mergeStrings(model.merges, tokPath) }],
  ];
  for (const typ of ['bos', 'eos', 'unk', 'pad'] as const) {
    const content = tokenContent(tcfg[`${typ}_token`]);
    let id = content === null ? undefined : [...added].find(([, a]) => a.content === content)?.[0];
    if (id === undefined) {
      const c = rawConfig[`${typ}_token_id`];
      if (typeof c === 'number' && Number.isSafeInteger(c) && c >= 0 && c < vocabSize) id = c;
    }
    if (id !== undefined) meta.push([`tokenizer.ggml.${typ}_token_id`, { kind: 'u32', value: id }]);
  }
  const addBos = typeof tcfg.add_bos_token === 'boolean' ? tcfg.add_bos_token : postProcessorAddsBos(tok);
  meta.push(['tokenizer.ggml.add_bos_token', { kind: 'bool', value: addBos }]);
  meta.push(['tokenizer.ggml.add_eos_token', { kind: 'bool', value: tcfg.add_eos_token === true }]);
  const template = (await loadTokenizer(fs, dir)).chatTemplate;
  if (template) meta.push(['tokenizer.chat_template', { kind: 'string', value: template }]);
  return meta;
}
