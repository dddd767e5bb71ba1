// Chat templates rendered under a budget. A chat template comes with the model (tokenizer_config.json
// or chat_template.jinja), so it is untrusted code: `{% for i in range(100000000) %}x{% endfor %}`
// would allocate gigabytes and run for minutes, `{% set s = s ~ s %}` in a loop doubles a string
// each turn. @huggingface/jinja has no limits of its own, so rendering here:
// - counts evaluation steps (every node the interpreter evaluates) and stops past a budget far above
//   any real template on a real conversation;
// - refuses any string or list value longer than a bound, checked on each value as it is made, so
//   memory stays bounded whatever the template builds up;
// - gives the template a `range` that refuses more than a bound of numbers *before* allocating them
//   (the library's `range` materializes the whole list first).
// These are deterministic (the same template and messages always pass or always fail), cost
// nothing measurable, and work in every host; the wall-clock deadline of platform/deadline.ts
// (ModelTokenizer) covers what a step count cannot see, such as one slow filter.
//
// The library's Template.render cannot take another interpreter, and its globals are set up by a
// function it does not export (and declared once, so they cannot be overridden), so the few globals
// are declared here the way its setupGlobals declares them (@huggingface/jinja 0.5: true/false/none
// in both spellings, raise_exception, range, strftime_now).

import { Environment, Interpreter, Template } from '@huggingface/jinja';

/** The rendering budget: evaluation steps (≈ 1–2 s of the interpreter; a real template on a
 * conversation of a few messages takes hundreds to thousands), longest string or list, longest `range`. */
export const TEMPLATE_LIMITS = Object.freeze({ steps: 300_000, length: 8 * 2 ** 20, range: 100_000 });

/** A template went past TEMPLATE_LIMITS; `message` says which limit, in words for the user. */
export class TemplateBudgetExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateBudgetExceeded';
  }
}

// The package's .d.ts re-exports these classes from extensionless relative paths, which NodeNext
// resolution does not follow (they type as `any`): the little used here, typed by hand.
interface JinjaValue {
  type: string;
  value: unknown;
}
interface JinjaEnvironment {
  set(name: string, value: unknown): unknown;
}
interface JinjaInterpreter {
  evaluate(statement: unknown, environment: JinjaEnvironment): JinjaValue;
  run(program: unknown): JinjaValue;
}
const InterpreterBase = Interpreter as unknown as new (env: JinjaEnvironment) => JinjaInterpreter;
const EnvironmentClass = Environment as unknown as new () => JinjaEnvironment;

class BudgetedInterpreter extends InterpreterBase {
  private steps = 0;

  /** Counts `n` steps of work against the budget. */
  charge(n: number): void {
    this.steps += n;
    if (this.steps > TEMPLATE_LIMITS.steps) {
      throw new TemplateBudgetExceeded(`it took more than ${TEMPLATE_LIMITS.steps} evaluation steps (a loop far too long for a chat prompt)`);
    }
  }

  override evaluate(statement: unknown, environment: JinjaEnvironment): JinjaValue {
    this.charge(1);
    const v = super.evaluate(statement, environment);
    if (v.type !== 'StringValue' && v.type !== 'ArrayValue') return v;
    const length = (v.value as { length: number }).length;
    if (length > TEMPLATE_LIMITS.length) {
      const [what, unit] = v.type === 'StringValue' ? ['a string', 'characters'] : ['a list', 'items'];
      throw new TemplateBudgetExceeded(`it built ${what} of ${length} ${unit}, more than the ${TEMPLATE_LIMITS.length} a chat prompt may have`);
    }
    // Operators and filters copy what they make (`list + [x]`, `s|upper`): charged by size — a list
    // item a step, a KiB of text a step — so a loop growing a list is quadratic work the count
    // sees. (Reading a variable copies nothing and is one step however big the value.)
    const type = (statement as { type?: string } | undefined)?.type;
    if (type === 'BinaryExpression' || type === 'FilterExpression') this.charge(v.type === 'ArrayValue' ? length : length >> 10);
    return v;
  }

  /** Python's range, refusing more than TEMPLATE_LIMITS.range numbers before making any; each
   * number counts as a step (it becomes a value the interpreter holds). */
  range(start: number, stop?: number, step = 1): number[] {
    if (stop === undefined) [start, stop] = [0, start];
    for (const [name, x] of [
      ['start', start],
      ['stop', stop],
      ['step', step],
    ] as const) {
      if (!Number.isInteger(x)) throw new Error(`range() ${name} must be an integer, got ${String(x)}`);
    }
    if (step === 0) throw new Error('range() step must not be zero');
    const count = Math.max(0, Math.ceil((stop - start) / step));
    if (count > TEMPLATE_LIMITS.range)
      throw new TemplateBudgetExceeded(`it called range() for ${count} numbers, more than the ${TEMPLATE_LIMITS.range} a chat template may use`);
    this.charge(count);
    return Array.from({ length: count }, (_, i) => start + i * step);
  }
}

/** strftime_now as the library defines it (transformers gives templates the same): %Y %m %d %b %B %H %M %%. */
function strftimeNow(format: string): string {
  const d = new Date();
  const pad2 = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => new Intl.DateTimeFormat(undefined, { month: style }).format(d);
  const parts: Record<string, () => string> = {
    '%Y': () => String(d.getFullYear()),
    '%m': () => pad2(d.getMonth() + 1),
    '%d': () => pad2(d.getDate()),
    '%b': () => month('short'),
    '%B': () => month('long'),
    '%H': () => pad2(d.getHours()),
    '%M': () => pad2(d.getMinutes()),
    '%%': () => '%',
  };
  return String(format).replace(/%[YmdbBHM%]/g, (token) => parts[token]());
}

function templateGlobals(env: JinjaEnvironment, interpreter: BudgetedInterpreter): void {
  for (const [name, value] of [
    ['true', true],
    ['false', false],
    ['none', null],
    ['True', true],
    ['False', false],
    ['None', null],
  ] as const)
    env.set(name, value);
  env.set('raise_exception', (message: unknown) => {
    throw new Error(String(message));
  });
  env.set('range', (start: number, stop?: number, step?: number) => interpreter.range(start, stop, step));
  env.set('strftime_now', strftimeNow);
}

/** A compiled chat template; `render` throws TemplateBudgetExceeded past TEMPLATE_LIMITS. */
export class ChatTemplate {
  private readonly parsed: unknown;

  /** Throws the library's error on a syntax error. */
  constructor(source: string) {
    // Template's constructor lexes with the options transformers uses (trim_blocks, lstrip_blocks).
    this.parsed = new Template(source).parsed;
  }

  render(items: Record<string, unknown>): string {
    const env = new EnvironmentClass();
    const interpreter = new BudgetedInterpreter(env);
    templateGlobals(env, interpreter);
    for (const [key, value] of Object.entries(items)) env.set(key, value);
    return interpreter.run(this.parsed).value as string;
  }
}
