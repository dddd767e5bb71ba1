// Hostile and careless model directories: every one must be refused at load time with a
// LightReasonerError whose message starts with the file's path and names the field and what it
// should be — never a TypeError, a stack trace, or a model that loads and computes garbage.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type ErrorCode, LightReasonerError } from '../runtime/errors.ts';
import type { CausalLM } from '../runtime/model/model.ts';
import { runCli } from './helpers/cli.ts';
import { ReferenceBackend } from '../runtime/backend/reference.ts';
import { loadModel } from '../runtime/model/model.ts';
import { nodePlatform } from '../runtime/platform/node.ts';
import { copyModel, editHeader, editJson, loadFailure, readParts, setValue, sparseModel, writeParts, writeText } from './helpers/model-dir.ts';

const SHARDED = 'llama-untied-bf16-llama3rope';
const WITH_JINJA = 'qwen2-tied-bf16';

interface Case {
  name: string;
  fixture?: string;
  setup(dir: string): void;
  code: ErrorCode;
  /** The file the message must start with, relative to the model directory. */
  file: string;
  /** The field and what is expected of it. */
  field: RegExp;
  /** For problems that show only when the model is used (a template's raise_exception). */
  then?: (m: CausalLM) => unknown;
}

// ---- one-line editors of the fixture files ----
type Edit = (j: any) => unknown;
const json = (file: string, edit: Edit) => (dir: string) => editJson(join(dir, file), edit);
const config = (edit: Edit) => json('config.json', edit);
const set = (key: string, value: unknown) => config((c) => void (c[key] = value));
const tokenizer = (edit: Edit) => json('tokenizer.json', edit);
const tokConfig = (edit: Edit) => json('tokenizer_config.json', edit);
const index = (edit: Edit) => json('model.safetensors.index.json', edit);
const shard = (value: unknown) => index((j) => void (j.weight_map['model.norm.weight'] = value));
const text = (file: string, body: string) => (dir: string) => writeText(join(dir, file), body);
const st = (edit: (h: Record<string, any>) => unknown) => (dir: string) => editHeader(join(dir, 'model.safetensors'), edit);
const norm = (edit: (e: any) => unknown) => st((h) => void edit(h['model.norm.weight']));
/** Replace the safetensors header with raw text (or bytes), keeping the data section. */
const rawHeader = (make: (headerText: string) => Buffer | string, length?: (h: Buffer) => bigint) => (dir: string) => {
  const file = join(dir, 'model.safetensors');
  const { headerText, data } = readParts(file);
  const h = make(headerText);
  const bytes = typeof h === 'string' ? Buffer.from(h) : h;
  writeParts(file, bytes, data, length?.(bytes));
};
const rope = (value: unknown) =>
  config((c) => {
    delete c.rope_parameters;
    c.rope_theta = 10000;
    c.rope_scaling = value;
  });
const llama3 = (key: string, value: unknown) => ({ fixture: SHARDED, setup: config((c) => void (c.rope_parameters[key] = value)) });

const positiveInt = (key: string, got: string) => new RegExp(`^${key} must be a positive integer, got ${got}$`);
const CONFIG = 'config.json';

const configCases: Case[] = [
  { name: 'num_hidden_layers 2.5', setup: set('num_hidden_layers', 2.5), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('num_hidden_layers', '2\\.5') },
  { name: 'num_hidden_layers 0', setup: set('num_hidden_layers', 0), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('num_hidden_layers', '0') },
  { name: 'num_hidden_layers -1', setup: set('num_hidden_layers', -1), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('num_hidden_layers', '-1') },
  { name: 'num_hidden_layers "2"', setup: set('num_hidden_layers', '2'), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('num_hidden_layers', '"2"') },
  {
    name: 'num_hidden_layers null',
    setup: set('num_hidden_layers', null),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: positiveInt('num_hidden_layers', 'null'),
  },
  {
    name: 'hidden_size missing',
    setup: config((c) => void delete c.hidden_size),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /hidden_size must be a positive integer, got nothing \(the field is missing\)/,
  },
  { name: 'hidden_size 0', setup: set('hidden_size', 0), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('hidden_size', '0') },
  { name: 'vocab_size -5', setup: set('vocab_size', -5), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('vocab_size', '-5') },
  {
    name: 'vocab_size 1e300 (not a safe integer)',
    setup: set('vocab_size', 1e300),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /vocab_size must be a positive integer, got 1e\+300/,
  },
  {
    name: 'intermediate_size "96"',
    setup: set('intermediate_size', '96'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: positiveInt('intermediate_size', '"96"'),
  },
  { name: 'num_attention_heads 0', setup: set('num_attention_heads', 0), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('num_attention_heads', '0') },
  { name: 'num_key_value_heads 0', setup: set('num_key_value_heads', 0), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('num_key_value_heads', '0') },
  {
    name: 'num_key_value_heads does not divide num_attention_heads',
    setup: set('num_key_value_heads', 3),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/,
  },
  {
    name: 'hidden_size not a multiple of num_attention_heads (no head_dim)',
    setup: config((c) => {
      delete c.head_dim;
      c.hidden_size = 66;
    }),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /hidden_size \(66\) must be a multiple of num_attention_heads \(4\)/,
  },
  { name: 'head_dim odd', setup: set('head_dim', 15), code: 'MODEL_FORMAT', file: CONFIG, field: /head_dim must be even .*got 15/ },
  { name: 'head_dim 2.5', setup: set('head_dim', 2.5), code: 'MODEL_FORMAT', file: CONFIG, field: positiveInt('head_dim', '2\\.5') },
  {
    name: 'max_position_embeddings 0',
    setup: set('max_position_embeddings', 0),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: positiveInt('max_position_embeddings', '0'),
  },
  {
    name: 'max_position_embeddings "256"',
    setup: set('max_position_embeddings', '256'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: positiveInt('max_position_embeddings', '"256"'),
  },
  {
    name: 'rms_norm_eps 0',
    setup: set('rms_norm_eps', 0),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rms_norm_eps must be a finite positive number, got 0$/,
  },
  {
    name: 'rms_norm_eps -1e-5',
    setup: set('rms_norm_eps', -1e-5),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rms_norm_eps must be a finite positive number, got -0\.00001$/,
  },
  {
    name: 'rms_norm_eps "1e-5"',
    setup: set('rms_norm_eps', '1e-5'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rms_norm_eps must be a finite positive number, got "1e-5"$/,
  },
  {
    name: 'rope_parameters.rope_theta 0',
    setup: config((c) => void (c.rope_parameters.rope_theta = 0)),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_parameters\.rope_theta must be a finite positive number, got 0$/,
  },
  // Before: a string theta fell through to the top-level default (10000), silently.
  {
    name: 'rope_parameters.rope_theta "1e6"',
    setup: config((c) => void (c.rope_parameters.rope_theta = '1e6')),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_parameters\.rope_theta must be a finite positive number, got "1e6"$/,
  },
  {
    name: 'top-level rope_theta -1',
    setup: config((c) => {
      delete c.rope_parameters;
      c.rope_theta = -1;
    }),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_theta must be a finite positive number, got -1$/,
  },
  // Before: a string rope_scaling read as "default" rope, silently.
  {
    name: 'rope_scaling a string',
    setup: rope('linear'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_scaling must be null or an object .*got "linear"$/,
  },
  { name: 'rope_scaling an array', setup: rope([]), code: 'MODEL_FORMAT', file: CONFIG, field: /^rope_scaling must be null or an object .*got \[\]$/ },
  {
    name: 'rope_scaling factor 0',
    setup: rope({ type: 'linear', factor: 0 }),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_scaling\.factor must be a finite positive number, got 0$/,
  },
  {
    name: 'rope_scaling factor -2',
    setup: rope({ rope_type: 'linear', factor: -2 }),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_scaling\.factor must be a finite positive number, got -2$/,
  },
  {
    name: 'rope_scaling without its factor',
    setup: rope({ type: 'linear' }),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_scaling\.factor must be a finite positive number, got nothing/,
  },
  {
    name: 'rope_scaling type a number',
    setup: rope({ type: 3, factor: 2 }),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_scaling\.type must be a string \(one of default, linear, llama3\), got 3$/,
  },
  {
    name: 'rope type yarn (known, unsupported)',
    setup: rope({ rope_type: 'yarn', factor: 2 }),
    code: 'UNSUPPORTED',
    file: CONFIG,
    field: /^rope_scaling\.rope_type "yarn" is not supported \(supported rope types: default, linear, llama3\) — .*use a model without it/,
  },
  // Qwen2.5's optional long-context setting, in the older `type` key.
  {
    name: 'rope_scaling {type: yarn} (Qwen2.5 long context)',
    setup: rope({ type: 'yarn', factor: 4, original_max_position_embeddings: 32768 }),
    code: 'UNSUPPORTED',
    file: CONFIG,
    field: /^rope_scaling\.type "yarn" is not supported \(supported rope types: default, linear, llama3\) — /,
  },
  ...['dynamic', 'longrope', 'su', 'mrope', 'unknown-kind'].map(
    (type): Case => ({
      name: `rope_scaling rope_type "${type}"`,
      setup: rope({ rope_type: type, factor: 2 }),
      code: 'UNSUPPORTED',
      file: CONFIG,
      field: new RegExp(`^rope_scaling\\.rope_type "${type}" is not supported `),
    }),
  ),
  {
    name: 'rope_parameters rope_type "yarn"',
    setup: config((c) => void Object.assign(c.rope_parameters, { rope_type: 'yarn', factor: 2 })),
    code: 'UNSUPPORTED',
    file: CONFIG,
    field: /^rope_parameters\.rope_type "yarn" is not supported/,
  },
  // Before: with rope_parameters present, a rope_scaling next to it was never read (yarn ignored).
  {
    name: 'rope_scaling yarn next to rope_parameters',
    setup: set('rope_scaling', { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 }),
    code: 'UNSUPPORTED',
    file: CONFIG,
    field: /^rope_scaling\.rope_type "yarn" is not supported/,
  },
  {
    name: 'rope_scaling linear next to a default rope_parameters',
    setup: set('rope_scaling', { type: 'linear', factor: 2 }),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_parameters \(default\) and rope_scaling \(linear, factor 2\) disagree — keep the one the model was trained with and remove the other$/,
  },
  {
    name: 'llama3 high_freq_factor equal to low_freq_factor',
    ...llama3('high_freq_factor', 1),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /rope_parameters\.high_freq_factor \(1\) must be greater than rope_parameters\.low_freq_factor \(1\)/,
  },
  {
    name: 'llama3 original_max_position_embeddings 0',
    ...llama3('original_max_position_embeddings', 0),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: positiveInt('rope_parameters\\.original_max_position_embeddings', '0'),
  },
  {
    name: 'llama3 low_freq_factor NaN-ish string',
    ...llama3('low_freq_factor', 'NaN'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^rope_parameters\.low_freq_factor must be a finite positive number, got "NaN"$/,
  },
  // Before: "true" read as false, so the q/k/v/o biases were silently not loaded.
  {
    name: 'attention_bias "true"',
    setup: set('attention_bias', 'true'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^attention_bias must be true or false, got "true"$/,
  },
  {
    name: 'tie_word_embeddings 1',
    setup: set('tie_word_embeddings', 1),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^tie_word_embeddings must be true or false, got 1$/,
  },
  {
    name: 'eos_token_id 2.5 (config.json, no generation_config.json)',
    setup: (dir) => {
      rmSync(join(dir, 'generation_config.json'));
      set('eos_token_id', 2.5)(dir);
    },
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^eos_token_id must be a token id \(a non-negative integer\) or a list of them, got 2\.5$/,
  },
  {
    name: 'bos_token_id a list',
    setup: set('bos_token_id', [1, 2]),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^bos_token_id must be one token id, got \[1,2\]$/,
  },
  {
    name: 'model_type missing',
    setup: config((c) => void delete c.model_type),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^model_type must be a string naming the architecture \(supported: llama, qwen2.*got nothing/,
  },
  { name: 'model_type a number', setup: set('model_type', 5), code: 'MODEL_FORMAT', file: CONFIG, field: /^model_type must be a string .*got 5$/ },
  {
    name: 'architectures a string',
    setup: set('architectures', 'LlamaForCausalLM'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^architectures must be a list of class names such as \["LlamaForCausalLM"\], got "LlamaForCausalLM"$/,
  },
  { name: 'config.json is null', setup: text(CONFIG, 'null'), code: 'MODEL_FORMAT', file: CONFIG, field: /^must hold a JSON object, got null$/ },
  {
    name: 'config.json is an array',
    setup: text(CONFIG, '[{"model_type": "llama"}]'),
    code: 'MODEL_FORMAT',
    file: CONFIG,
    field: /^must hold a JSON object, got an array$/,
  },
  { name: 'config.json is a number', setup: text(CONFIG, '42'), code: 'MODEL_FORMAT', file: CONFIG, field: /^must hold a JSON object, got a number \(42\)$/ },
  {
    name: 'generation_config.json is null',
    setup: text('generation_config.json', 'null'),
    code: 'MODEL_FORMAT',
    file: 'generation_config.json',
    field: /^must hold a JSON object, got null$/,
  },
  {
    name: 'generation_config.json eos_token_id -1',
    setup: json('generation_config.json', (g) => void (g.eos_token_id = [2, -1])),
    code: 'MODEL_FORMAT',
    file: 'generation_config.json',
    field: /^eos_token_id must be a token id .*got \[2,-1\]$/,
  },
  // Object.prototype's keys: a plain registry lookup found a function and crashed with a TypeError.
  ...['constructor', '__proto__', 'toString', 'hasOwnProperty'].map(
    (type): Case => ({
      name: `model_type "${type}"`,
      setup: set('model_type', type),
      code: 'UNSUPPORTED',
      file: CONFIG,
      field: new RegExp(`^model_type "${type}" is not supported \\(supported: llama, qwen2, qwen3, gemma3_text `),
    }),
  ),
];

const TOK = 'tokenizer.json';
const TOK_CFG = 'tokenizer_config.json';
const RAISE =
  "{% if messages[0]['role'] != 'system' %}{{ raise_exception('Conversations must start with a system message') }}{% endif %}{{ messages[0]['content'] }}";
// Hostile templates: each would take gigabytes or minutes without the rendering budget.
const HUGE_RANGE = '{% for i in range(100000000) %}x{% endfor %}';
const DOUBLING = '{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}';
const NESTED = '{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}';
const WIDE_INDENT = '{{ messages[0].content | indent(2000000000) }}';
const chat = (m: CausalLM) => m.tokenizer.encodeChat([{ role: 'user', content: 'hi' }]);
/** A pre-tokenizer regex that backtracks exponentially on a run of "a" not followed by the end. */
const catastrophicRegex = tokenizer(
  (j) =>
    void (j.pre_tokenizer = {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }, j.pre_tokenizer],
    }),
);

const tokenizerCases: Case[] = [
  // Before: an unknown type was accepted and guessed as another model (a silently wrong tokenizer).
  {
    name: 'tokenizer.json model.type "Foo"',
    setup: tokenizer((j) => void (j.model.type = 'Foo')),
    code: 'MODEL_FORMAT',
    file: TOK,
    field: /^model\.type must be one of BPE, WordPiece, Unigram, got "Foo"$/,
  },
  {
    name: 'tokenizer.json model.type "WordLevel"',
    setup: tokenizer((j) => void (j.model.type = 'WordLevel')),
    code: 'UNSUPPORTED',
    file: TOK,
    field: /^model\.type "WordLevel" is not supported \(supported: BPE, WordPiece, Unigram\)$/,
  },
  {
    name: 'tokenizer.json model.type a number',
    setup: tokenizer((j) => void (j.model.type = 7)),
    code: 'MODEL_FORMAT',
    file: TOK,
    field: /^model\.type must be one of .*got 7$/,
  },
  {
    name: 'tokenizer.json model missing',
    setup: tokenizer((j) => void delete j.model),
    code: 'MODEL_FORMAT',
    file: TOK,
    field: /^model must be an object .*got nothing/,
  },
  {
    name: 'tokenizer.json model.vocab null',
    setup: tokenizer((j) => void (j.model.vocab = null)),
    code: 'MODEL_FORMAT',
    file: TOK,
    field: /^model\.vocab must be an object mapping tokens to ids for a BPE model, got null$/,
  },
  { name: 'tokenizer.json is null', setup: text(TOK, 'null'), code: 'MODEL_FORMAT', file: TOK, field: /must hold a JSON object .*got null$/ },
  { name: 'tokenizer.json is an array', setup: text(TOK, '[]'), code: 'MODEL_FORMAT', file: TOK, field: /must hold a JSON object .*got an array$/ },
  { name: 'tokenizer.json is a number', setup: text(TOK, '3'), code: 'MODEL_FORMAT', file: TOK, field: /must hold a JSON object .*got a number \(3\)$/ },
  {
    name: 'tokenizer.json unknown normalizer type',
    setup: tokenizer((j) => void (j.normalizer = { type: 'Foo' })),
    code: 'MODEL_FORMAT',
    file: TOK,
    field: /^cannot build the tokenizer: Unknown Normalizer type: Foo$/,
  },
  { name: 'tokenizer_config.json is null', setup: text(TOK_CFG, 'null'), code: 'MODEL_FORMAT', file: TOK_CFG, field: /^must hold a JSON object, got null$/ },
  {
    name: 'chat_template a number',
    setup: tokConfig((c) => void (c.chat_template = 5)),
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template must be a string or a list of \{"name", "template"\} objects, got 5$/,
  },
  {
    name: 'chat_template list without templates',
    setup: tokConfig((c) => void (c.chat_template = [{ name: 'default' }])),
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template must be a string or a list/,
  },
  {
    name: 'chat_template syntax error',
    setup: tokConfig((c) => void (c.chat_template = '{% if %}x{% endif %}')),
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template is not a valid Jinja template: /,
  },
  {
    name: 'chat_template unclosed for loop',
    setup: tokConfig((c) => void (c.chat_template = '{% for m in messages %}{{ m.content }}')),
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template is not a valid Jinja template: /,
  },
  {
    name: 'chat_template.jinja syntax error',
    fixture: WITH_JINJA,
    setup: text('chat_template.jinja', '{{ messages[0 }}'),
    code: 'MODEL_FORMAT',
    file: 'chat_template.jinja',
    field: /^chat_template is not a valid Jinja template: /,
  },
  {
    name: 'chat_template raise_exception(...)',
    setup: tokConfig((c) => void (c.chat_template = RAISE)),
    then: (m) => m.tokenizer.encodeChat([{ role: 'user', content: 'hi' }]),
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template failed to render the messages: Conversations must start with a system message$/,
  },
  // Before: 3 GB and minutes (range materialized 10^8 numbers), a string doubling to exhaustion, a
  // 10^10-iteration loop. Each is stopped by the budget, deterministically, in milliseconds.
  {
    name: 'chat_template range(100000000)',
    setup: tokConfig((c) => void (c.chat_template = HUGE_RANGE)),
    then: chat,
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template was stopped while rendering the messages: it called range\(\) for 100000000 numbers, more than the 100000 a chat template may use$/,
  },
  {
    name: 'chat_template doubling a string',
    setup: tokConfig((c) => void (c.chat_template = DOUBLING)),
    then: chat,
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template was stopped while rendering the messages: it built a string of \d+ characters, more than the 8388608 a chat prompt may have$/,
  },
  {
    name: 'chat_template nested loops of 10^10 steps',
    setup: tokConfig((c) => void (c.chat_template = NESTED)),
    then: chat,
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template was stopped while rendering the messages: it took more than 300000 evaluation steps/,
  },
  {
    name: 'chat_template.jinja range(100000000)',
    fixture: WITH_JINJA,
    setup: text('chat_template.jinja', HUGE_RANGE),
    then: chat,
    code: 'MODEL_FORMAT',
    file: 'chat_template.jinja',
    field: /^chat_template was stopped while rendering the messages: it called range\(\) for 100000000 numbers/,
  },
  {
    name: 'chat_template indent(2000000000)',
    setup: tokConfig((c) => void (c.chat_template = WIDE_INDENT)),
    then: chat,
    code: 'MODEL_FORMAT',
    file: TOK_CFG,
    field: /^chat_template failed to render the messages: Invalid string length$/,
  },
  // Before: a hang (one RegExp.exec backtracking for hours). Stopped by the 5 s deadline.
  {
    name: 'tokenizer.json pre_tokenizer regex with catastrophic backtracking',
    setup: catastrophicRegex,
    then: (m) => m.tokenizer.encode(`${'a'.repeat(40)}!`),
    code: 'MODEL_FORMAT',
    file: TOK,
    field: /^tokenizing a text of 41 characters took more than 5 s and was stopped: a regex of the tokenizer .* is probably backtracking catastrophically/,
  },
];

const ST = 'model.safetensors';
const dtypes = 'F64, I64, U64, F32, I32, U32, F16, BF16, I16, U16, I8, U8, BOOL, F8_E4M3, F8_E5M2';

const safetensorsCases: Case[] = [
  {
    name: 'header length 0',
    setup: rawHeader(
      () => '',
      () => 0n,
    ),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header length is 0 bytes/,
  },
  {
    name: 'header length 2^62',
    setup: rawHeader(
      (h) => h,
      () => 2n ** 62n,
    ),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header length 4611686018427387904 exceeds the format's 100000000-byte limit/,
  },
  {
    name: 'header length beyond the file',
    setup: rawHeader(
      (h) => h,
      () => 10_000_000n,
    ),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header claims 10000000 bytes but the file has \d+/,
  },
  {
    name: 'header not JSON',
    setup: rawHeader(() => '{"model.norm.weight": {'),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header is not valid JSON/,
  },
  {
    name: 'header an array',
    setup: rawHeader(() => '[]'),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header must be a JSON object beginning with "\{"/,
  },
  {
    name: 'header null',
    setup: rawHeader(() => 'null'),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header must be a JSON object beginning with "\{"/,
  },
  {
    name: 'header with a byte-order mark',
    setup: rawHeader((h) => '\ufeff' + h),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header must be a JSON object beginning with "\{"/,
  },
  {
    name: 'header not UTF-8',
    setup: rawHeader((h) => {
      const b = Buffer.from(h);
      b[b.indexOf('"pt"') + 1] = 0xff;
      return b;
    }),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header is not valid UTF-8/,
  },
  {
    name: 'dtype unknown',
    setup: norm((e) => (e.dtype = 'Q4')),
    code: 'MODEL_FORMAT',
    file: ST,
    field: new RegExp(`^tensor "model\\.norm\\.weight": dtype must be one of ${dtypes}, got "Q4"$`),
  },
  {
    name: 'dtype "constructor"',
    setup: norm((e) => (e.dtype = 'constructor')),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": dtype must be one of .*got "constructor"$/,
  },
  {
    name: 'dtype missing',
    setup: norm((e) => delete e.dtype),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": dtype must be one of .*got nothing/,
  },
  {
    name: 'entry null',
    setup: st((h) => void (h['model.norm.weight'] = null)),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": header entry must be an object with dtype, shape and data_offsets, got null$/,
  },
  {
    name: 'shape with a negative dimension',
    setup: norm((e) => (e.shape = [-1, -64])),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": shape must be a list of non-negative integers, got \[-1,-64\]$/,
  },
  {
    name: 'shape with a fraction',
    setup: norm((e) => (e.shape = [2.5])),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": shape must be a list of non-negative integers, got \[2\.5\]$/,
  },
  {
    name: 'shape a string',
    setup: norm((e) => (e.shape = '64')),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": shape must be a list of non-negative integers, got "64"$/,
  },
  {
    name: 'shape too large to be real',
    setup: norm((e) => (e.shape = [2 ** 40, 2 ** 40])),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": shape \[1099511627776, 1099511627776\] is too large to be real/,
  },
  {
    name: 'data_offsets reversed',
    setup: norm((e) => e.data_offsets.reverse()),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": data_offsets \[361984, 361728\] end before they begin$/,
  },
  {
    name: 'data_offsets one number',
    setup: norm((e) => (e.data_offsets = [361728])),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": data_offsets must be \[begin, end\] with two non-negative integers, got \[361728\]$/,
  },
  {
    name: 'data_offsets strings',
    setup: norm((e) => (e.data_offsets = ['361728', '361984'])),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": data_offsets must be \[begin, end\] .*got \["361728","361984"\]$/,
  },
  {
    name: 'data_offsets beyond the data section',
    setup: norm((e) => (e.data_offsets = [361728, 999999])),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight": data_offsets \[361728, 999999\] lie outside the 361984-byte data section/,
  },
  {
    name: 'shape and data_offsets disagree',
    setup: norm((e) => (e.shape = [32])),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^tensor "model\.norm\.weight" is F32 \[32\] = 128 bytes but its data_offsets span 256$/,
  },
  // Two tensors reading the same bytes: each entry is consistent alone, the model silently wrong.
  {
    name: 'two tensors overlap',
    setup: st((h) => void (h['model.layers.1.input_layernorm.weight'].data_offsets = [...h['model.layers.0.input_layernorm.weight'].data_offsets])),
    code: 'MODEL_FORMAT',
    file: ST,
    field:
      /^tensor "model\.layers\.[01]\.input_layernorm\.weight" data_offsets \[114944, 115200\] overlap tensor "model\.layers\.[01]\.input_layernorm\.weight", which ends at 115200/,
  },
  {
    name: 'a hole between tensors',
    setup: (dir) => {
      const file = join(dir, ST);
      const { headerText, data } = readParts(file);
      const h = JSON.parse(headerText);
      h['model.norm.weight'].data_offsets = [361736, 361992];
      writeParts(file, JSON.stringify(h), Buffer.concat([data.subarray(0, 361728), Buffer.alloc(8), data.subarray(361728)]));
    },
    code: 'MODEL_FORMAT',
    file: ST,
    field:
      /^tensor "model\.norm\.weight" data_offsets \[361736, 361992\] leave a 8-byte hole after tensor "model\.layers\.1\.self_attn\.v_proj\.weight" \(the format allows no holes\)$/,
  },
  {
    name: 'bytes after the last tensor',
    setup: (dir) => {
      const file = join(dir, ST);
      writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(16)]));
    },
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^the data section has 362000 bytes but the tensors' data_offsets cover 361984: 16 bytes after tensor "model\.norm\.weight" belong to no tensor/,
  },
  // JSON.parse keeps the last duplicate silently; the header scan has to catch it.
  {
    name: 'a tensor named twice',
    setup: rawHeader((h) => h.replace('{', `{"model.norm.weight":${JSON.stringify(JSON.parse(h)['model.norm.weight'])},`)),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header names "model\.norm\.weight" twice/,
  },
  {
    name: 'a tensor named twice, once with a JSON escape',
    setup: rawHeader((h) =>
      h.replace('"model.norm.weight"', '"model.norm.weigh\\u0074"').replace('{', `{"model.norm.weight":${JSON.stringify(JSON.parse(h)['model.norm.weight'])},`),
    ),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^safetensors header names "model\.norm\.weight" twice/,
  },
  {
    name: '__metadata__ a string',
    setup: st((h) => void (h.__metadata__ = 'pt')),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^__metadata__ must be an object of string values, got "pt"$/,
  },
  {
    name: '__metadata__ with a number',
    setup: st((h) => void (h.__metadata__ = { format: 5 })),
    code: 'MODEL_FORMAT',
    file: ST,
    field: /^__metadata__\["format"\] must be a string \(metadata holds only strings\), got 5$/,
  },
];

// Before: a NaN or Inf weight loaded and generated (garbage, or a run stopped steps later).
const value = (file: string, tensor: string, index: number, v: number) => (dir: string) => setValue(join(dir, file), tensor, index, v);
const nonFinite = (got: string, tensor: string, where: string) =>
  new RegExp(
    `^tensor "${tensor.replaceAll('.', '\\.')}" holds ${got} at element ${where}: the checkpoint has non-finite weights .* re-download it or re-save it from a good copy$`,
  );
const SHARD3 = 'model-00003-of-00003.safetensors';
const nonFiniteCases: Case[] = [
  {
    name: 'F32 weight NaN (a vector)',
    setup: value(ST, 'model.norm.weight', 5, NaN),
    code: 'MODEL_FORMAT',
    file: ST,
    field: nonFinite('NaN', 'model.norm.weight', '5'),
  },
  {
    name: 'F32 weight -Inf (the first element)',
    setup: value(ST, 'model.embed_tokens.weight', 0, -Infinity),
    code: 'MODEL_FORMAT',
    file: ST,
    field: nonFinite('-Infinity', 'model.embed_tokens.weight', '0 \\[0, 0\\]'),
  },
  {
    name: 'BF16 weight +Inf (the last element, in the last shard)',
    fixture: SHARDED,
    setup: value(SHARD3, 'lm_head.weight', 449 * 64 - 1, Infinity),
    code: 'MODEL_FORMAT',
    file: SHARD3,
    field: nonFinite('Infinity', 'lm_head.weight', '28735 \\[448, 63\\]'),
  },
  {
    name: 'BF16 weight NaN (an odd element)',
    fixture: WITH_JINJA,
    setup: value(ST, 'model.layers.1.mlp.down_proj.weight', 1001, NaN),
    code: 'MODEL_FORMAT',
    file: ST,
    field: nonFinite('NaN', 'model.layers.1.mlp.down_proj.weight', '1001 \\[\\d+, \\d+\\]'),
  },
  {
    name: 'F16 bias -Inf',
    fixture: 'qwen2-bias-f16',
    setup: value(ST, 'model.layers.1.self_attn.k_proj.bias', 15, -Infinity),
    code: 'MODEL_FORMAT',
    file: ST,
    field: nonFinite('-Infinity', 'model.layers.1.self_attn.k_proj.bias', '15'),
  },
  {
    name: 'F16 weight NaN',
    fixture: 'qwen2-bias-f16',
    setup: value(ST, 'model.layers.1.self_attn.k_proj.weight', 70, NaN),
    code: 'MODEL_FORMAT',
    file: ST,
    field: nonFinite('NaN', 'model.layers.1.self_attn.k_proj.weight', '70 \\[1, 6\\]'),
  },
];

const INDEX = 'model.safetensors.index.json';
const plainShard = (got: string) =>
  new RegExp(
    `^weight_map\\["model\\.norm\\.weight"\\] must be the plain name of a \\.safetensors file in the model directory \\(no path, "\\.\\.", or URL\\), got ${got}$`,
  );
const sharded = (name: string, setup: (dir: string) => void, field: RegExp): Case => ({
  name,
  fixture: SHARDED,
  setup,
  code: 'MODEL_FORMAT',
  file: INDEX,
  field,
});

const indexCases: Case[] = [
  sharded('shard "../…"', shard('../model-00002-of-00003.safetensors'), plainShard('"\\.\\./model-00002-of-00003\\.safetensors"')),
  sharded('shard an absolute path', shard('/etc/passwd'), plainShard('"/etc/passwd"')),
  sharded('shard in a subdirectory', shard('sub/model-00002-of-00003.safetensors'), plainShard('"sub/model-00002-of-00003\\.safetensors"')),
  sharded('shard with a backslash', shard('..\\model-00002-of-00003.safetensors'), plainShard('"\\.\\.\\\\\\\\model-00002-of-00003\\.safetensors"')),
  sharded('shard a URL', shard('https://example.com/model.safetensors'), plainShard('"https://example\\.com/model\\.safetensors"')),
  sharded('shard percent-encoded ".."', shard('%2e%2e%2fmodel.safetensors'), plainShard('"%2e%2e%2fmodel\\.safetensors"')),
  sharded('shard with a drive letter', shard('C:model-00002-of-00003.safetensors'), plainShard('"C:model-00002-of-00003\\.safetensors"')),
  sharded('shard not a .safetensors file', shard('model-00002-of-00003.bin'), plainShard('"model-00002-of-00003\\.bin"')),
  sharded('shard a number', shard(5), plainShard('5')),
  sharded('index is null', text(INDEX, 'null'), /^must hold a JSON object with a "weight_map", got null$/),
  sharded(
    'weight_map missing',
    index((j) => void delete j.weight_map),
    /^weight_map must be an object mapping tensor names to shard files, got nothing/,
  ),
  sharded(
    'weight_map an array',
    index((j) => void (j.weight_map = ['model-00001-of-00003.safetensors'])),
    /^weight_map must be an object .*got \["model-00001-of-00003\.safetensors"\]$/,
  ),
  sharded(
    'weight_map names the wrong shard',
    shard('model-00001-of-00003.safetensors'),
    /^weight_map lists "model\.norm\.weight" in model-00001-of-00003\.safetensors but that shard has no such tensor \(it is in model-00002-of-00003\.safetensors\)$/,
  ),
  sharded(
    'a tensor stored in two shards',
    (dir) => copyFileSync(join(dir, 'model-00002-of-00003.safetensors'), join(dir, 'model-00003-of-00003.safetensors')),
    /^tensor "[^"]+" is stored in two shards, model-00003-of-00003\.safetensors and model-00002-of-00003\.safetensors/,
  ),
];

for (const c of [...configCases, ...tokenizerCases, ...safetensorsCases, ...nonFiniteCases, ...indexCases]) {
  t.test(c.name, async (t) => {
    const dir = copyModel(t, c.fixture);
    c.setup(dir);
    const e = await loadFailure(dir, c.then);
    if (!(e instanceof LightReasonerError)) {
      t.fail(`a LightReasonerError, not ${(e as Error)?.name}: ${(e as Error)?.message}`);
      return;
    }
    const file = join(dir, c.file);
    t.equal(e.code, c.code, 'code');
    t.equal(e.file, file, 'error.file');
    t.ok(e.message.startsWith(`${file}: `), `the message starts with the file: ${e.message}`);
    t.match(e.message.slice(file.length + 2), c.field, 'the field and what is expected');
  });
}

// Real checkpoints carry harmless rope values: these must still load, with the same frequencies.
const harmless: [string, (dir: string) => void][] = [
  ['rope_scaling null next to rope_parameters', set('rope_scaling', null)],
  ['rope_scaling {type: default} next to rope_parameters', set('rope_scaling', { type: 'default' })],
  ['rope_scaling {rope_type: default, rope_theta} next to rope_parameters', set('rope_scaling', { rope_type: 'default', rope_theta: 100000 })],
  ['top-level rope_theta and rope_scaling null (transformers 4)', rope(null)],
  ['top-level rope_theta, no rope_scaling at all', config((c) => void (delete c.rope_parameters, (c.rope_theta = 10000)))],
];
for (const [name, setup] of harmless) {
  t.test(`loads: ${name}`, async (t) => {
    const dir = copyModel(t);
    setup(dir);
    const m = await loadModel(dir, { fs: nodePlatform.fs, backend: new ReferenceBackend() });
    t.equal(m.config.rope.type, 'default');
    t.equal(m.config.rope.factor, 1);
  });
}

// ---- the CLI prints the message alone ----
const cliCases: { name: string; fixture?: string; setup(dir: string): void; args?: string[]; message: RegExp }[] = [
  { name: 'num_hidden_layers 2.5', setup: set('num_hidden_layers', 2.5), message: /config\.json: num_hidden_layers must be a positive integer, got 2\.5$/m },
  { name: 'model_type "constructor"', setup: set('model_type', 'constructor'), message: /config\.json: model_type "constructor" is not supported/ },
  {
    name: 'tokenizer.json model.type "Foo"',
    setup: tokenizer((j) => void (j.model.type = 'Foo')),
    message: /tokenizer\.json: model\.type must be one of BPE, WordPiece, Unigram/,
  },
  {
    name: 'overlapping tensors',
    setup: st((h) => void (h['model.norm.weight'].data_offsets = [0, 256])),
    message: /model\.safetensors: tensor "[^"]+" data_offsets \[0, \d+\] overlap/,
  },
  {
    name: 'a NaN weight',
    setup: value(ST, 'model.norm.weight', 3, NaN),
    message: /^error: \S+model\.safetensors: tensor "model\.norm\.weight" holds NaN at element 3: the checkpoint has non-finite weights/,
  },
  {
    name: 'shard outside the model directory',
    fixture: SHARDED,
    setup: shard('../model-00002-of-00003.safetensors'),
    message: /model\.safetensors\.index\.json: weight_map\["model\.norm\.weight"\] must be the plain name/,
  },
  {
    name: 'chat template raise_exception',
    setup: tokConfig((c) => void (c.chat_template = RAISE)),
    args: ['--chat', 'hi'],
    message: /tokenizer_config\.json: chat_template failed to render the messages: Conversations must start with a system message/,
  },
  {
    name: 'chat template range(100000000)',
    setup: tokConfig((c) => void (c.chat_template = HUGE_RANGE)),
    args: ['--chat', 'hi'],
    message: /tokenizer_config\.json: chat_template was stopped while rendering the messages: it called range\(\) for 100000000 numbers/,
  },
  {
    name: 'catastrophic pre_tokenizer regex',
    setup: catastrophicRegex,
    args: ['--prompt', `${'a'.repeat(40)}!`],
    message: /tokenizer\.json: tokenizing a text of 41 characters took more than 5 s and was stopped/,
  },
];

for (const c of cliCases) {
  t.test(`CLI: ${c.name}`, async (t) => {
    const dir = copyModel(t, c.fixture);
    c.setup(dir);
    const r = await runCli(['generate', '--model', dir, ...(c.args ?? ['--prompt', 'hi']), '--backend', 'reference']);
    t.not(r.code, 0, 'exit code');
    t.equal(r.code, 1, 'exit code 1 (a model file problem)');
    t.ok(r.stderr.startsWith('error: '), `stderr starts with "error:": ${r.stderr}`);
    t.match(r.stderr, c.message);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}

// ---- what the backend cannot hold: refused before allocating (before: a RangeError and its stack) ----
// 67 GB of F32 weights in a sparse file (no disk, nothing read: the refusal comes first). Past one
// Wasm memory is no longer a refusal (sharded.ts); past the host's RAM is.
const PAST_HOST = {
  hidden_size: 8192,
  intermediate_size: 64,
  vocab_size: 32768,
  num_attention_heads: 64,
  num_key_value_heads: 8,
  head_dim: 128,
  num_hidden_layers: 110,
};
const memoryCases: { name: string; setup(t: Test): string[]; code: number; message: RegExp }[] = [
  {
    name: "a model past the host's memory (67 GB on Wasm)",
    setup: (t) => ['generate', '--model', sparseModel(t, PAST_HOST), '--prompt', 'hi', '--backend', 'wasm'],
    code: 1,
    message:
      /^error: \S+: the model's weights take \d+\.\d\d GiB, but this machine has \d+\.\d\d GiB of memory available \(the Wasm backend holds the weights in RAM\) — use a model of at most about \d+\.\d\d GiB .*--backend webgpu/m,
  },
  {
    name: 'a KV cache past what the Wasm backend has left (max_position_embeddings 10^8, --max-new-tokens 10^7)',
    setup: (t) => {
      const dir = copyModel(t);
      set('max_position_embeddings', 1e8)(dir);
      return ['generate', '--model', dir, '--prompt', 'hi', '--max-new-tokens', '10000000', '--backend', 'wasm'];
    },
    code: 2,
    message:
      /^error: \S+: the KV cache for 1 sequence × 1000000\d positions \(prompt \+ --max-new-tokens\), 4\.77 GiB \(2 layers × keys and values × 2 KV heads × head_dim 16 × 4 bytes a position\) does not fit: it is more than the \d\.\d\d GiB the wasm backend has left after the weights — lower --max-new-tokens or --batch-size \(at most \d+ positions fit 1 sequence\)$/m,
  },
  {
    name: 'a KV cache the reference backend cannot allocate (no bound known ahead: the allocation fails)',
    setup: (t) => {
      const dir = copyModel(t);
      set('max_position_embeddings', 1e11)(dir);
      return ['generate', '--model', dir, '--prompt', 'hi', '--max-new-tokens', '5000000000', '--backend', 'reference'];
    },
    code: 1,
    message:
      /^error: \S+: the KV cache for 1 sequence × 500000000\d positions .* could not be allocated \(Invalid typed array length: \d+\) — lower --max-new-tokens or --batch-size$/m,
  },
];
for (const c of memoryCases) {
  t.test(`CLI: ${c.name}`, async (t) => {
    const r = await runCli(c.setup(t));
    t.equal(r.code, c.code, 'exit code', { stderr: r.stderr });
    t.ok(r.stderr.startsWith('error: '), `stderr starts with "error:": ${r.stderr}`);
    t.match(r.stderr, c.message);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
    t.equal(r.stdout, '', 'no output');
  });
}

t.test("library: a Wasm backend with less memory than the model refuses it before loading; its allocator's last resort is a LightReasonerError", async (t) => {
  const { createWasmBackend } = await import('../runtime/backend/wasm/index.ts');
  const small = await createWasmBackend({ maxMemoryPages: 4, threads: 1, matmulVariant: 'unpack=once,prefetch=none' }); // 256 KiB
  t.teardown(() => small.destroy());
  const dir = copyModel(t); // 353 KiB of F32 weights
  const e = await loadModel(dir, { fs: nodePlatform.fs, backend: small }).then(
    () => null,
    (e) => e,
  );
  t.ok(e instanceof LightReasonerError, `a LightReasonerError: ${e}`);
  t.equal(e?.code, 'UNSUPPORTED');
  t.match(e?.message, /^\S+: the model's weights take 35\d KiB, more than the 256 KiB the wasm backend can address — /);
  const oom = (() => {
    try {
      small.createTensor('f32', [2 ** 20]);
    } catch (e) {
      return e;
    }
  })();
  t.ok(oom instanceof LightReasonerError, `not a RangeError: ${oom}`);
  t.equal((oom as LightReasonerError).code, 'ENVIRONMENT');
  t.match((oom as Error).message, /^the Wasm backend is out of memory: it needs 4\.\d MiB and its linear memory ends at 256 KiB/);
});
