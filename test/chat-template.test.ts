// The budgeted chat-template renderer (runtime/model/chat-template.ts) must render exactly what
// @huggingface/jinja's own Template.render does on real templates — it only adds limits — and stop
// hostile ones by a named limit, fast.
import t from 'tap';
import { Template } from '@huggingface/jinja';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChatTemplate, TEMPLATE_LIMITS, TemplateBudgetExceeded } from '../runtime/model/chat-template.ts';
import { FIXTURES } from './helpers/cli.ts';

// Shaped like real ones: Qwen2.5's (tools, namespace, tojson, loop.index0, reversed scan), Llama
// 3.1's (strftime_now, macros-free date default, trim filters), and one with a macro and range.
const QWEN_LIKE = `{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}{{- "\\n\\n# Tools\\n<tools>" }}{%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}{{- "\\n</tools><|im_end|>\\n" }}{%- else %}{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}{%- set ns = namespace(last=-1) %}{%- for message in messages[::-1] %}{%- if ns.last == -1 and message.role == 'user' %}{%- set ns.last = messages|length - 1 - loop.index0 %}{%- endif %}{%- endfor %}{%- for message in messages %}{%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant") %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`;
const LLAMA_LIKE = `{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}{%- set system_message = "" %}{%- endif %}{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}{{- "Today Date: " + date_string + "\\n\\n" }}{{- system_message }}{{- "<|eot_id|>" }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}`;
const MACRO = `{% macro turn(m, i) %}[{{ i }}:{{ m.role|upper }}] {{ m.content|replace('2', 'two') }}{% endmacro %}{% for i in range(messages|length) %}{{ turn(messages[i], i) }}{% if not loop.last %}\n{% endif %}{% endfor %}{% for k in range(3, 0, -1) %}{{ k }}{% endfor %}{{ eos_token }}`;

const conversations = [
  [{ role: 'user', content: 'What is 2 + 2?' }],
  [
    { role: 'system', content: 'Please reason step by step.' },
    { role: 'user', content: 'Ava buys 3 pens at $2 each. How much?' },
    { role: 'assistant', content: '3 * 2 = 6. #### 6' },
    { role: 'user', content: 'And 4 pens?  ' },
  ],
];
// Every fixture model with a tokenizer (models/gemma3-legacy-config holds a config.json only).
const fixtureTemplates = readdirSync(join(FIXTURES, 'models'))
  .map((m) => join(FIXTURES, 'models', m, 'tokenizer_config.json'))
  .filter((f) => existsSync(f))
  .map((f) => JSON.parse(readFileSync(f, 'utf8')).chat_template)
  .filter((x) => typeof x === 'string');

t.test('renders exactly as @huggingface/jinja does', async (t) => {
  const templates: [string, string][] = [
    ['qwen-like', QWEN_LIKE],
    ['llama-like', LLAMA_LIKE],
    ['macro + range', MACRO],
    ...fixtureTemplates.map((s, i): [string, string] => [`fixture ${i}`, s]),
  ];
  for (const [name, source] of templates) {
    for (const messages of conversations) {
      for (const add_generation_prompt of [true, false]) {
        const items = {
          messages,
          add_generation_prompt,
          bos_token: '<s>',
          eos_token: '</s>',
          tools: name === 'qwen-like' && messages.length > 1 ? [{ name: 'add', parameters: { a: 'int' } }] : undefined,
        };
        const want = new Template(source).render(items);
        t.equal(new ChatTemplate(source).render(items), want, `${name}, ${messages.length} messages, generation prompt ${add_generation_prompt}`);
      }
    }
  }
});

t.test('hostile templates stop at a named limit, fast', async (t) => {
  const cases: [string, RegExp][] = [
    ['{% for i in range(100000000) %}x{% endfor %}', new RegExp(`range\\(\\) for 100000000 numbers, more than the ${TEMPLATE_LIMITS.range}`)],
    ['{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}', /built a string of \d+ characters/],
    ['{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}', new RegExp(`more than ${TEMPLATE_LIMITS.steps} evaluation steps`)],
    [
      '{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% for j in range(100) %}{% set ns.l = ns.l + [j] %}{% endfor %}{% endfor %}',
      /evaluation steps|built a list/,
    ],
  ];
  for (const [source, why] of cases) {
    const t0 = performance.now();
    let error: unknown;
    try {
      new ChatTemplate(source).render({ messages: [] });
    } catch (e) {
      error = e;
    }
    t.type(error, TemplateBudgetExceeded, source.slice(0, 40));
    t.match((error as Error).message, why);
    t.ok(performance.now() - t0 < 4000, `stopped in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  t.same(new ChatTemplate('{{ range(2, 11, 3)|join(",") }}|{{ range(3)|length }}|{{ range(5, 0)|length }}').render({}), '2,5,8|3|0', 'range keeps its meaning');
});
