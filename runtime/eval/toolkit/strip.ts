// The Qwen2.5-Math evaluation toolkit's answer cleaning (its parser.py `strip_string` and helpers),
// re-written from the documented behaviour so that a prediction and a gold answer are cleaned the
// way the toolkit cleans them before `math_equal` compares them. The order of the steps matters
// (e.g. units are dropped before `\text{…}` is unwrapped) and is kept. Python-regex details that
// differ in JavaScript are written out: `\W` is Unicode-aware in Python 3 (here `[^\p{L}\p{N}_]`),
// and the toolkit's unit list is used as regex patterns unescaped, as the toolkit does ("q ." matches
// "q" + space + any character). Portable: no host imports.

// Units (mostly from MathQA) as the toolkit lists them; each is also tried with an "s" appended.
const UNIT_BASE = [
  'east',
  'degree',
  'mph',
  'kmph',
  'ft',
  'm sqaure',
  ' m east',
  'sq m',
  'deg',
  'mile',
  'q .',
  'monkey',
  'prime',
  'ratio',
  'profit of rs',
  'rd',
  'o',
  'gm',
  'p . m',
  'lb',
  'tile',
  'per',
  'dm',
  'lt',
  'gain',
  'ab',
  'way',
  'west',
  'a .',
  'b .',
  'c .',
  'd .',
  'e .',
  'f .',
  'g .',
  'h .',
  't',
  'a',
  'h',
  'no change',
  'men',
  'soldier',
  'pie',
  'bc',
  'excess',
  'st',
  'inches',
  'noon',
  'percent',
  'by',
  'gal',
  'kmh',
  'c',
  'acre',
  'rise',
  'a . m',
  'th',
  'π r 2',
  'sq',
  'mark',
  'l',
  'toy',
  'coin',
  'sq . m',
  'gallon',
  '° f',
  'profit',
  'minw',
  'yr',
  'women',
  'feet',
  'am',
  'pm',
  'hr',
  'cu cm',
  'square',
  'v â € ™',
  'are',
  'rupee',
  'rounds',
  'cubic',
  'cc',
  'mtr',
  's',
  'ohm',
  'number',
  'kmph',
  'day',
  'hour',
  'minute',
  'min',
  'second',
  'man',
  'woman',
  'sec',
  'cube',
  'mt',
  'sq inch',
  'mp',
  '∏ cm ³',
  'hectare',
  'more',
  'sec',
  'unit',
  'cu . m',
  'cm 2',
  'rs .',
  'rs',
  'kg',
  'g',
  'month',
  'km',
  'm',
  'cm',
  'mm',
  'apple',
  'liter',
  'loss',
  'yard',
  'pure',
  'year',
  'increase',
  'decrease',
  'd',
  'less',
  'Surface',
  'litre',
  'pi sq m',
  's .',
  'metre',
  'meter',
  'inch',
];
const NOT_WORD = String.raw`[^\p{L}\p{N}_]`;
const UNIT_PATTERNS = [...UNIT_BASE, ...UNIT_BASE.map((u) => `${u}s`)].map((u) => new RegExp(`(^|${NOT_WORD})${u}($|${NOT_WORD})`, 'gu'));

// word2number's vocabulary (the toolkit turns an answer holding number words into digits with it).
const NUMBER_WORDS: Record<string, number> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
  twenty: 20,
  thirty: 30,
  forty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
  hundred: 100,
  thousand: 1000,
  million: 1000000,
  billion: 1000000000,
  point: -1,
};

/** word2number's `word_to_num` (its published algorithm), or null where it raises. */
function wordToNumber(text: string): string | null {
  const s = text.replace(/-/g, ' ').toLowerCase();
  if (/^\d+$/.test(s)) return String(Number(s)); // Python's isdigit → int: "007" → "7"
  let words = s
    .trim()
    .split(/\s+/)
    .filter((w) => Object.hasOwn(NUMBER_WORDS, w));
  if (words.length === 0) return null;
  const count = (w: string) => words.filter((x) => x === w).length;
  if (count('thousand') > 1 || count('million') > 1 || count('billion') > 1 || count('point') > 1) return null;
  let decimals: string[] = [];
  if (count('point') === 1) {
    decimals = words.slice(words.indexOf('point') + 1);
    words = words.slice(0, words.indexOf('point'));
  }
  const bi = words.indexOf('billion'),
    mi = words.indexOf('million'),
    ti = words.indexOf('thousand');
  if ((ti > -1 && (ti < mi || ti < bi)) || (mi > -1 && mi < bi)) return null;
  const form = (ws: string[]): number => {
    const n = ws.map((w) => NUMBER_WORDS[w]);
    if (n.length === 0) throw new RangeError('empty'); // Python: IndexError
    if (n.length === 4) return n[0] * n[1] + n[2] + n[3];
    if (n.length === 3) return n[0] * n[1] + n[2];
    if (n.length === 2) return n.includes(100) ? n[0] * n[1] : n[0] + n[1];
    return n[0];
  };
  try {
    let total = 0;
    if (words.length === 1) total += NUMBER_WORDS[words[0]];
    else if (words.length > 1) {
      if (bi > -1) total += form(words.slice(0, bi)) * 1e9;
      if (mi > -1) total += form(words.slice(bi > -1 ? bi + 1 : 0, mi)) * 1e6;
      if (ti > -1) total += form(words.slice(mi > -1 ? mi + 1 : bi > -1 ? bi + 1 : 0, ti)) * 1000;
      const last = words.length - 1;
      if (ti > -1 && ti !== last) total += form(words.slice(ti + 1));
      else if (mi > -1 && mi !== last) total += form(words.slice(mi + 1));
      else if (bi > -1 && bi !== last) total += form(words.slice(bi + 1));
      else if (ti === -1 && mi === -1 && bi === -1) total += form(words);
    }
    if (decimals.length) {
      const digits = decimals.map((w) => NUMBER_WORDS[w]);
      if (digits.every((d) => d >= 0 && d <= 9)) return pyNumber(total + Number(`0.${digits.join('')}`), true);
      return String(total);
    }
    return String(total);
  } catch {
    return null;
  }
}

function pyNumber(n: number, float: boolean): string {
  return float && Number.isInteger(n) ? `${n}.0` : String(n);
}

/** `\frac12` → `\frac{1}{2}`, `\frac1{72}` → `\frac{1}{72}` (the toolkit's `_fix_fracs`). */
function fixFracs(s: string): string {
  const parts = s.split('\\frac');
  let out = parts[0];
  for (const sub of parts.slice(1)) {
    out += '\\frac';
    if (sub.length > 0 && sub[0] === '{') {
      out += sub;
      continue;
    }
    if (sub.length < 2) return s;
    const [a, b] = [sub[0], sub[1]];
    out += b !== '{' ? `{${a}}{${b}}${sub.slice(2)}` : `{${a}}${b}${sub.slice(2)}`;
  }
  return out;
}

/** `a/b` of two integers (or with `sqrt`) → `\frac{a}{b}` (the toolkit's `_fix_a_slash_b`). */
function fixASlashB(s: string): string {
  const parts = s.split('/');
  if (parts.length !== 2) return s;
  const asInt = (x: string) => (x.includes('sqrt') ? x : /^\s*[+-]?\d+(?:_\d+)*\s*$/.test(x) ? String(BigInt(x.trim().replace(/_/g, ''))) : null);
  const a = asInt(parts[0]),
    b = asInt(parts[1]);
  if (a === null || b === null || s !== `${a}/${b}`) return s;
  return `\\frac{${a}}{${b}}`;
}

/** The toolkit's `strip_string`: the cleaning applied to predictions and gold answers alike. */
export function stripString(input: string, skipUnit = false): string {
  let s = input.trim().replace(/\n/g, '');
  s = s.replace(/\.+$/, '');
  s = s.replace(/\\!/g, '');
  s = s
    .replace(/\\begin\{array\}\{.*?\}/g, '\\begin{pmatrix}')
    .replace(/\\end\{array\}/g, '\\end{pmatrix}')
    .replace(/bmatrix/g, 'pmatrix');
  s = s.replace(/tfrac/g, 'frac').replace(/dfrac/g, 'frac');
  s = s.replace(/\\neq/g, '\\ne').replace(/\\leq/g, '\\le').replace(/\\geq/g, '\\ge');
  s = s.replace(/\\left/g, '').replace(/\\right/g, '');
  s = s.replace(/\\\{/g, '{').replace(/\\\}/g, '}');
  // A trailing \text{…} is a unit: dropped unless nothing would be left.
  const noUnit = s.replace(/\\text\{.*?\}$/, '').trim();
  if (noUnit !== '' && noUnit !== s) s = noUnit;
  if (!skipUnit) {
    for (let round = 0; round < 2; round++) {
      for (const re of UNIT_PATTERNS) {
        const t = s.replace(re, '$1$2');
        if (t !== '') s = t;
      }
    }
  }
  s = s.replace(/\^\{\\circ\}/g, '').replace(/\^\\circ/g, '');
  s = s.replace(/\\\$/g, '').replace(/\$/g, '');
  s = s.replace(/\\\(/g, '').replace(/\\\)/g, '');
  s = wordToNumber(s) ?? s;
  s = s.replace(/\\text\{(.*?)\}/g, '$1');
  for (const key of ['x=', 'y=', 'z=', 'x\\in', 'y\\in', 'z\\in', 'x\\to', 'y\\to', 'z\\to']) s = s.split(key).join('');
  s = s.replace(/\\emptyset/g, '{}');
  s = s.split('(-\\infty,\\infty)').join('\\mathbb{R}');
  s = s.replace(/\\%/g, '').replace(/%/g, '');
  s = s.split(' .').join(' 0.').split('{.').join('{0.');
  // (The toolkit then unwraps brackets around an alphanumeric string, but its test includes the
  // brackets themselves, so it never fires; nothing to do here.)
  s = s.replace(/infinity/g, '\\infty');
  if (!s.includes('\\infty')) s = s.replace(/inf/g, '\\infty');
  s = s.replace(/\+\\inity/g, '\\infty');
  s = s.replace(/and/g, '').replace(/\\mathbf/g, '');
  s = s.replace(/\\mbox\{.*?\}/g, '');
  if (s.includes('j') && !s.includes('i')) s = s.replace(/j/g, 'i');
  s = s.replace(/(\d+)\.0*([^\d])/g, '$1$2').replace(/(\d+)\.0*$/, '$1');
  if (s.length === 0) return s;
  if (s[0] === '.') s = `0${s}`;
  const eq = s.split('=');
  if (eq.length === 2 && eq[0].length <= 2) s = eq[1];
  s = s.replace(/\\sqrt([\p{L}\p{N}_]+)/gu, '\\sqrt{$1}');
  s = s.replace(/ /g, '');
  s = fixFracs(s);
  return fixASlashB(s);
}
