// A deterministic generator of multi-step arithmetic word problems with worked solutions in
// GSM8K's format ({question, answer}, the answer being step lines and a final `#### N`). Used for
// the embedded default: training the tiny expert/amateur pair, sampling, and evaluation.
//
// Determinism: one seeded PRNG (mulberry32, 32-bit integer arithmetic only, so every runtime gives
// the same stream); `generateProblems(seed, n)` is a prefix of `generateProblems(seed, n + k)`.
// Disjoint sets: each named set owns a seed range AND a share of question space (a 32-bit FNV-1a
// hash of the question text picks the set a question may belong to), so "pretrain", "dev",
// "sample" and "eval" never share a question whatever seeds are used. "dev" is for choosing
// settings (the held-out "eval" set never is); it was carved out of pretrain's share, so the
// sample and eval sets are the same questions as before it existed. Portable: no host imports.

export type ProblemSet = 'pretrain' | 'dev' | 'sample' | 'eval';
export const PROBLEM_SETS: readonly ProblemSet[] = ['pretrain', 'dev', 'sample', 'eval'];

/** Seed ranges of the named sets: `generateProblems(seed, n, {set})` uses seed `start + seed`. */
export const SEED_RANGES: Readonly<Record<ProblemSet, { start: number; size: number }>> = {
  pretrain: { start: 0x1000_0000, size: 0x1000_0000 },
  sample: { start: 0x2000_0000, size: 0x1000_0000 },
  eval: { start: 0x3000_0000, size: 0x1000_0000 },
  dev: { start: 0x4000_0000, size: 0x1000_0000 },
};

/** Hash buckets (of 100) that each set's questions fall in: 75 / 5 / 10 / 10. */
const BUCKETS: Record<ProblemSet, [number, number]> = { pretrain: [0, 75], dev: [75, 80], sample: [80, 90], eval: [90, 100] };

export interface GeneratedProblem {
  id: string;
  question: string;
  /** GSM8K style: one line per step, then `#### N`. */
  answer: string;
  /** The final result (also after `####`). */
  result: number;
  template: string;
  steps: number;
}

export interface GenerateProblemsOptions {
  /** Draw from a named set: the seed is an offset in its range and questions are disjoint from the other sets'. */
  set?: ProblemSet;
  /** Fewest and most solution steps (1–4; defaults 1 and 4). */
  minSteps?: number;
  maxSteps?: number;
  /** Only these templates (names from TEMPLATE_NAMES). */
  templates?: string[];
}

// ---- PRNG --------------------------------------------------------------------------------------

/** mulberry32: a 32-bit PRNG; `next()` is uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The set a question text belongs to. */
export function setOfQuestion(question: string): ProblemSet {
  const b = fnv1a(question) % 100;
  for (const s of PROBLEM_SETS) if (b >= BUCKETS[s][0] && b < BUCKETS[s][1]) return s;
  throw new Error('unreachable');
}

/** Integer draws and picks from one mulberry32 stream (shared with the cue problems, cue-problems.ts). */
export class Rng {
  constructor(private readonly next: () => number) {}
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  /** Two different elements. */
  pick2<T>(xs: readonly T[]): [T, T] {
    const i = Math.floor(this.next() * xs.length);
    let j = Math.floor(this.next() * (xs.length - 1));
    if (j >= i) j++;
    return [xs[i], xs[j]];
  }
}

// ---- vocabulary --------------------------------------------------------------------------------

export interface Person {
  name: string;
  he: string;
  his: string;
}
const P = (name: string, g: 'f' | 'm'): Person => ({ name, he: g === 'f' ? 'she' : 'he', his: g === 'f' ? 'her' : 'his' });
export const PEOPLE: Person[] = [
  P('Ava', 'f'),
  P('Liam', 'm'),
  P('Maya', 'f'),
  P('Noah', 'm'),
  P('Zoe', 'f'),
  P('Omar', 'm'),
  P('Lena', 'f'),
  P('Ravi', 'm'),
  P('Sofia', 'f'),
  P('Mateo', 'm'),
  P('Hana', 'f'),
  P('Kofi', 'm'),
  P('Ines', 'f'),
  P('Tariq', 'm'),
  P('Mia', 'f'),
  P('Jonas', 'm'),
  P('Priya', 'f'),
  P('Diego', 'm'),
  P('Aiko', 'f'),
  P('Samuel', 'm'),
  P('Nora', 'f'),
  P('Felix', 'm'),
  P('Chloe', 'f'),
  P('Arjun', 'm'),
  P('Elena', 'f'),
  P('Malik', 'm'),
  P('Yara', 'f'),
  P('Ben', 'm'),
  P('Lucia', 'f'),
  P('Hugo', 'm'),
];
export const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const an = (noun: string) => `${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`;
const hours = (n: number) => `${n} ${n === 1 ? 'hour' : 'hours'}`;

/** [singular, plural, price range] */
export const GOODS: [string, string, number, number][] = [
  ['notebook', 'notebooks', 2, 9],
  ['pen', 'pens', 1, 4],
  ['apple', 'apples', 1, 3],
  ['book', 'books', 6, 20],
  ['toy car', 'toy cars', 3, 12],
  ['sandwich', 'sandwiches', 4, 9],
  ['candle', 'candles', 2, 8],
  ['plant', 'plants', 5, 15],
  ['ticket', 'tickets', 7, 25],
  ['scarf', 'scarves', 8, 20],
  ['mug', 'mugs', 3, 10],
  ['puzzle', 'puzzles', 6, 18],
];
export const ITEMS = ['stickers', 'marbles', 'cookies', 'pencils', 'stamps', 'shells', 'cards', 'beads', 'crayons', 'strawberries'];
const BAKED: [string, string][] = [
  ['muffin', 'muffins'],
  ['cookie', 'cookies'],
  ['pie', 'pies'],
  ['bagel', 'bagels'],
  ['cupcake', 'cupcakes'],
  ['loaf of bread', 'loaves of bread'],
];
const SHOPS = ['bakery', 'cafe', 'market stall', 'school fair booth', 'corner shop'];
const TASKS: [string, string, string][] = [
  // [what, unit (plural), verb phrase]
  ['a book', 'pages', 'reads'],
  ['a scarf', 'rows', 'knits'],
  ['a fence', 'boards', 'paints'],
  ['a puzzle', 'pieces', 'places'],
  ['a report', 'lines', 'types'],
  ['a garden', 'seedlings', 'plants'],
];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const CONTAINERS: [string, string, string, string, string][] = [
  // [produce, container singular, plural, verb, running cost]
  ['eggs', 'carton', 'cartons', 'collects', 'chicken feed'],
  ['apples', 'bag', 'bags', 'picks', 'a ladder rental'],
  ['oranges', 'crate', 'crates', 'picks', 'a market stall'],
  ['cupcakes', 'box', 'boxes', 'bakes', 'flour and sugar'],
  ['bottles of juice', 'pack', 'packs', 'makes', 'fruit'],
];
const PURCHASES = [
  'bike helmet',
  'video game',
  'jacket',
  'pair of shoes',
  'board game',
  'backpack',
  'skateboard',
  'concert ticket',
  'camera strap',
  'gift for a friend',
];
const RELATIVES = ['grandmother', 'uncle', 'aunt', 'grandfather', 'neighbor'];

// ---- templates ---------------------------------------------------------------------------------

interface Built {
  question: string;
  /** Step lines, each with its arithmetic written out as "a op b = c". */
  lines: string[];
  result: number;
}
type Template = (r: Rng, steps: number) => Built;

const money = (n: number) => `$${n}`;

/** Shopping: one or two goods at a price, then a coupon or change from a bill. */
const shopping: Template = (r, steps) => {
  const p = r.pick(PEOPLE);
  const [g1, g2] = r.pick2(GOODS);
  const a = r.int(2, 9),
    pa = r.int(g1[2], g1[3]);
  let total = a * pa;
  let q = `${p.name} buys ${a} ${g1[1]} that cost ${money(pa)} each`;
  const lines = [`The ${g1[1]} cost ${a} * ${pa} = ${total} dollars.`];
  if (steps >= 3) {
    const b = r.int(2, 6),
      pb = r.int(g2[2], g2[3]);
    q += ` and ${b} ${g2[1]} that cost ${money(pb)} each`;
    lines.push(`The ${g2[1]} cost ${b} * ${pb} = ${b * pb} dollars.`);
    lines.push(`Together that is ${total} + ${b * pb} = ${total + b * pb} dollars.`);
    total += b * pb;
  }
  q += '.';
  if (steps === 1 || steps === 3) return { question: `${q} How much does ${p.he} spend in all?`, lines, result: total };
  if (steps === 2 && r.int(0, 1) === 0) {
    const off = r.int(1, Math.min(10, total - 1));
    lines.push(`With the coupon ${p.he} pays ${total} - ${off} = ${total - off} dollars.`);
    return { question: `${q} ${cap(p.he)} uses a coupon for ${money(off)} off. How much does ${p.he} pay?`, lines, result: total - off };
  }
  const bill = [20, 50, 100, 200, 500].find((x) => x > total)!;
  lines.push(`${cap(p.his)} change is ${bill} - ${total} = ${bill - total} dollars.`);
  return { question: `${q} ${cap(p.he)} pays with a ${money(bill)} bill. How much change does ${p.he} get?`, lines, result: bill - total };
};

/** Sharing: a collection, some given away or bought, the rest shared equally. */
const sharing: Template = (r, steps) => {
  const [p, f] = r.pick2(PEOPLE);
  const item = r.pick(ITEMS);
  const k = r.int(2, 8); // people sharing at the end
  const each = r.int(2, 15);
  const lines: string[] = [];
  if (steps === 1) {
    const n = k * each;
    return {
      question: `${p.name} has ${n} ${item} and shares them equally among ${k} friends. How many ${item} does each friend get?`,
      lines: [`Each friend gets ${n} / ${k} = ${each} ${item}.`],
      result: each,
    };
  }
  // Work backwards so the division is exact: rest = k * each.
  const rest = k * each;
  const give = r.int(3, 20);
  let q: string;
  let have: number;
  if (steps >= 3) {
    const bought = r.int(4, 25);
    const start = rest + give - bought;
    if (start <= 0) return sharing(r, steps);
    have = start + bought;
    q = `${p.name} has ${start} ${item}. ${cap(p.he)} buys ${bought} more, then gives ${give} to ${f.name}.`;
    lines.push(`After buying, ${p.name} has ${start} + ${bought} = ${have} ${item}.`);
  } else {
    have = rest + give;
    q = `${p.name} has ${have} ${item} and gives ${give} to ${f.name}.`;
  }
  lines.push(`After giving some away, ${p.he} has ${have} - ${give} = ${rest} ${item}.`);
  if (steps >= 4) {
    const keep = r.int(1, each - 1 > 0 ? each - 1 : 1);
    q += ` ${cap(p.he)} shares the rest equally among ${k} friends, and each friend then gives ${keep} back. How many ${item} does each friend keep?`;
    lines.push(`Each friend gets ${rest} / ${k} = ${each} ${item}.`);
    lines.push(`Each friend keeps ${each} - ${keep} = ${each - keep} ${item}.`);
    return { question: q, lines, result: each - keep };
  }
  q += ` ${cap(p.he)} shares the rest equally among ${k} friends. How many ${item} does each friend get?`;
  lines.push(`Each friend gets ${rest} / ${k} = ${each} ${item}.`);
  return { question: q, lines, result: each };
};

/** Rates: units per hour over one or two days, against a total; hours still needed. */
const rates: Template = (r, steps) => {
  const p = r.pick(PEOPLE);
  const [what, unit, verb] = r.pick(TASKS);
  const does = (n: string) => `${verb} ${n}`;
  const rate = r.int(3, 30),
    h1 = r.int(2, 6);
  const [d1, d2] = r.pick2(DAYS).sort((a, b) => DAYS.indexOf(a) - DAYS.indexOf(b));
  const lines = [`On ${d1} ${p.he} ${does(`${rate} * ${h1} = ${rate * h1}`)} ${unit}.`];
  let done = rate * h1;
  let q = `${p.name} ${does(String(rate))} ${unit} of ${what} per hour. On ${d1} ${p.he} works for ${hours(h1)}`;
  if (steps === 1) return { question: `${q}. How many ${unit} does ${p.he} finish on ${d1}?`, lines, result: done };
  if (steps === 3 && r.int(0, 1) === 0) {
    // one day, what is left, and the hours that still takes (left is a multiple of the rate)
    const more = r.int(1, 6);
    const total = done + rate * more;
    lines.push(`There are ${total} - ${done} = ${total - done} ${unit} left.`);
    lines.push(`At ${rate} ${unit} per hour that takes ${total - done} / ${rate} = ${more} more ${more === 1 ? 'hour' : 'hours'}.`);
    return { question: `${q}. ${cap(what)} has ${total} ${unit} in all. How many more hours does ${p.he} need to finish?`, lines, result: more };
  }
  if (steps >= 3) {
    const h2 = r.int(1, 6);
    q += ` and on ${d2} ${p.he} works for ${hours(h2)}`;
    lines.push(`On ${d2} ${p.he} ${does(`${rate} * ${h2} = ${rate * h2}`)} ${unit}.`);
    lines.push(`In total that is ${done} + ${rate * h2} = ${done + rate * h2} ${unit}.`);
    done += rate * h2;
    if (steps === 3) return { question: `${q}. How many ${unit} does ${p.he} finish in total?`, lines, result: done };
  }
  const total = done + r.int(0, 80);
  lines.push(`There are ${total} - ${done} = ${total - done} ${unit} left.`);
  return { question: `${q}. ${cap(what)} has ${total} ${unit} in all. How many ${unit} are left?`, lines, result: total - done };
};

/** Ages: multiples, differences, years ahead. */
const ages: Template = (r, steps) => {
  const [a, b, c] = [r.pick(PEOPLE), r.pick(PEOPLE), r.pick(PEOPLE)];
  if (a.name === b.name || b.name === c.name || a.name === c.name) return ages(r, steps);
  const x = r.int(3, 14),
    k = r.int(2, 4);
  const lines: string[] = [];
  let q = `${a.name} is ${x} years old. ${b.name} is ${k} times as old as ${a.name}.`;
  const bAge = k * x;
  lines.push(`${b.name} is ${x} * ${k} = ${bAge} years old.`);
  if (steps === 1) return { question: `${q} How old is ${b.name}?`, lines, result: bAge };
  const d = r.int(2, bAge - 1);
  q += ` ${c.name} is ${d} years younger than ${b.name}.`;
  const cAge = bAge - d;
  lines.push(`${c.name} is ${bAge} - ${d} = ${cAge} years old.`);
  if (steps === 2) return { question: `${q} How old is ${c.name}?`, lines, result: cAge };
  if (steps === 3) {
    const y = r.int(2, 20);
    lines.push(`In ${y} years ${c.name} will be ${cAge} + ${y} = ${cAge + y} years old.`);
    return { question: `${q} How old will ${c.name} be in ${y} years?`, lines, result: cAge + y };
  }
  lines.push(`${a.name} and ${b.name} together are ${x} + ${bAge} = ${x + bAge} years old.`);
  lines.push(`All three together are ${x + bAge} + ${cAge} = ${x + bAge + cAge} years old.`);
  return { question: `${q} What is the sum of their three ages?`, lines, result: x + bAge + cAge };
};

/** Savings: weekly savings, a gift, a purchase, the rest split. */
const savings: Template = (r, steps) => {
  const p = r.pick(PEOPLE);
  const s = r.int(3, 25),
    w = r.int(2, 12);
  const lines = [`${p.name} saves ${s} * ${w} = ${s * w} dollars.`];
  let have = s * w;
  let q = `${p.name} saves ${money(s)} every week for ${w} weeks.`;
  if (steps === 1) return { question: `${q} How much money does ${p.he} save?`, lines, result: have };
  const rel = r.pick(RELATIVES);
  const gift = r.int(5, 50);
  q += ` ${cap(p.his)} ${rel} gives ${p.he === 'she' ? 'her' : 'him'} ${money(gift)} more.`;
  lines.push(`With the gift ${p.he} has ${have} + ${gift} = ${have + gift} dollars.`);
  have += gift;
  if (steps === 2) return { question: `${q} How much money does ${p.he} have now?`, lines, result: have };
  const item = r.pick(PURCHASES);
  const cost = r.int(1, have - 1);
  q += ` Then ${p.he} spends ${money(cost)} on ${an(item)}.`;
  lines.push(`After buying the ${item} ${p.he} has ${have} - ${cost} = ${have - cost} dollars.`);
  have -= cost;
  if (steps === 3) return { question: `${q} How much money does ${p.he} have left?`, lines, result: have };
  // 4 steps: split the rest equally into k jars (adjust the cost so the split is exact).
  const k = r.int(2, 5);
  const extra = have % k;
  if (have - extra <= 0) return savings(r, steps);
  const cost4 = cost + extra;
  const left = have - extra;
  q = q.replace(`spends ${money(cost)}`, `spends ${money(cost4)}`);
  lines[2] = `After buying the ${item} ${p.he} has ${have + cost} - ${cost4} = ${left} dollars.`;
  lines.push(`Each of the ${k} jars gets ${left} / ${k} = ${left / k} dollars.`);
  return { question: `${q} ${cap(p.he)} puts the rest into ${k} jars equally. How much money goes into each jar?`, lines, result: left / k };
};

/** Multi-item totals: a shop's sales of one to three goods, then costs. */
const totals: Template = (r, steps) => {
  const shop = r.pick(SHOPS);
  const order = [...BAKED];
  const g: [string, string][] = [];
  for (let i = 0; i < 3; i++) g.push(order.splice(r.int(0, order.length - 1), 1)[0]);
  const n = [r.int(5, 40), r.int(5, 40), r.int(5, 40)],
    pr = [r.int(1, 6), r.int(2, 9), r.int(3, 12)];
  const kinds = steps <= 2 ? 1 : steps === 3 ? 2 : r.pick([2, 3]);
  const withCosts = steps === 2 || (steps === 4 && kinds === 2);
  const parts: string[] = [],
    lines: string[] = [],
    sums: number[] = [];
  for (let i = 0; i < kinds; i++) {
    parts.push(`${n[i]} ${g[i][1]} at ${money(pr[i])} each`);
    lines.push(`The ${g[i][1]} bring in ${n[i]} * ${pr[i]} = ${n[i] * pr[i]} dollars.`);
    sums.push(n[i] * pr[i]);
  }
  const sum = sums.reduce((a, b) => a + b, 0);
  if (kinds > 1) lines.push(`In total that is ${sums.join(' + ')} = ${sum} dollars.`);
  const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  const q = `A ${shop} sells ${list}.`;
  if (!withCosts) return { question: `${q} How much money does it make if it sells them all?`, lines, result: sum };
  const costs = r.int(1, sum - 1);
  lines.push(`The profit is ${sum} - ${costs} = ${sum - costs} dollars.`);
  return { question: `${q} The ingredients cost ${money(costs)}. How much profit does the ${shop} make?`, lines, result: sum - costs };
};

/** Packing: produce collected over days, packed in containers (exact), some sold. */
const packing: Template = (r, steps) => {
  const p = r.pick(PEOPLE);
  const [what, one, many, verb, running] = r.pick(CONTAINERS);
  const size = r.pick([4, 6, 8, 10, 12]);
  const lines: string[] = [];
  if (steps === 1) {
    const boxes = r.int(2, 20);
    return {
      question: `${p.name} has ${boxes * size} ${what} and packs them in ${many} of ${size}. How many ${many} does ${p.he} fill?`,
      lines: [`${cap(p.he)} fills ${boxes * size} / ${size} = ${boxes} ${many}.`],
      result: boxes,
    };
  }
  const days = r.int(2, 7);
  // per-day amount chosen so the total is a multiple of the container size
  const boxes = r.int(2, 12) * days;
  const total = boxes * size;
  const perDay = total / days;
  if (!Number.isInteger(perDay)) return packing(r, steps);
  let q = `${p.name} ${verb} ${perDay} ${what} every day for ${days} days and packs them in ${many} of ${size}.`;
  lines.push(`${cap(p.he)} ${verb} ${perDay} * ${days} = ${total} ${what}.`);
  lines.push(`That fills ${total} / ${size} = ${boxes} ${many}.`);
  if (steps === 2) return { question: `${q} How many ${many} does ${p.he} fill?`, lines, result: boxes };
  const price = r.int(2, 9);
  q += ` ${cap(p.he)} sells each ${one} for ${money(price)}.`;
  lines.push(`Selling them brings ${boxes} * ${price} = ${boxes * price} dollars.`);
  if (steps === 3) return { question: `${q} How much money does ${p.he} make?`, lines, result: boxes * price };
  const spent = r.int(1, boxes * price - 1);
  lines.push(`After paying ${spent} dollars for ${running}, ${p.he} keeps ${boxes * price} - ${spent} = ${boxes * price - spent} dollars.`);
  return { question: `${q} ${cap(p.he)} pays ${money(spent)} for ${running}. How much money does ${p.he} keep?`, lines, result: boxes * price - spent };
};

/** Travel: speed × time legs, summed, against the whole trip. */
const travel: Template = (r, steps) => {
  const p = r.pick(PEOPLE);
  const mode = r.pick(['bikes', 'drives', 'walks', 'rides a train']);
  const unit = mode === 'walks' ? 'km' : r.pick(['km', 'miles']);
  const v1 = mode === 'walks' ? r.int(3, 6) : r.int(10, 80),
    t1 = r.int(2, 5);
  const lines = [`First ${p.he} covers ${v1} * ${t1} = ${v1 * t1} ${unit}.`];
  let dist = v1 * t1;
  let q = `${p.name} ${mode} at ${v1} ${unit} per hour for ${hours(t1)}`;
  if (steps === 1) return { question: `${q}. How far does ${p.he} go?`, lines, result: dist };
  if (steps >= 3) {
    const v2 = mode === 'walks' ? r.int(2, 6) : r.int(10, 80),
      t2 = r.int(1, 4);
    q += `, then at ${v2} ${unit} per hour for ${t2} more ${t2 === 1 ? 'hour' : 'hours'}`;
    lines.push(`Then ${p.he} covers ${v2} * ${t2} = ${v2 * t2} ${unit}.`);
    lines.push(`Altogether that is ${dist} + ${v2 * t2} = ${dist + v2 * t2} ${unit}.`);
    dist += v2 * t2;
    if (steps === 3) return { question: `${q}. How far does ${p.he} go in total?`, lines, result: dist };
  }
  const trip = dist + r.int(1, 80);
  lines.push(`${cap(p.he)} still has ${trip} - ${dist} = ${trip - dist} ${unit} to go.`);
  return { question: `${q}. The whole trip is ${trip} ${unit}. How many ${unit} are left?`, lines, result: trip - dist };
};

const TEMPLATES: Record<string, Template> = { shopping, sharing, rates, ages, savings, totals, packing, travel };
export const TEMPLATE_NAMES: readonly string[] = Object.keys(TEMPLATES);

// ---- the generator -----------------------------------------------------------------------------

export function seedFor(seed: number, set: ProblemSet | undefined): number {
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer (got ${seed})`);
  if (set === undefined) {
    if (seed > 0xffff_ffff) throw new RangeError(`seed must be < 2^32 (got ${seed})`);
    return seed;
  }
  const range = SEED_RANGES[set];
  if (!range) throw new RangeError(`unknown set "${set}" (choose ${PROBLEM_SETS.join(', ')})`);
  if (seed >= range.size) throw new RangeError(`seed must be < ${range.size} for a named set (got ${seed})`);
  return range.start + seed;
}

/** Format a solution in GSM8K style: step lines, then `#### N`. */
export function formatAnswer(lines: string[], result: number): string {
  return `${lines.join('\n')}\n#### ${result}`;
}

/** A GSM8K answer rewritten as a chat response ending with `\boxed{N}` (for the qwen25-math-cot prompt). */
export function boxedSolution(answer: string): string {
  const at = answer.lastIndexOf('####');
  if (at < 0) return answer;
  return `${answer.slice(0, at).trimEnd()}\nThe final answer is \\boxed{${answer.slice(at + 4).trim()}}.`;
}

/**
 * The same solution with every two-digit-by-one-digit product worked out by place value:
 * "8 * 13 = 104" becomes "8 * 13 = 8 * 10 + 8 * 3 = 80 + 24 = 104" (the multi-digit operand split
 * into tens and units; products of one-digit numbers, of round tens and of larger numbers stay as
 * they are). The embedded default's expert is trained on a mix of both forms and its amateur on
 * the short form only, so the pair differs in a reasoning habit, not just in size
 * (scripts/build-default-pair.ts).
 */
export function placeValueSolution(answer: string): string {
  return answer.replace(/\b(\d+) \* (\d+) = (\d+)\b/g, (whole, xs: string, ys: string, zs: string) => {
    const x = Number(xs),
      y = Number(ys);
    const splitY = y >= 10 && y < 100 && y % 10 !== 0 && x < 10;
    const splitX = x >= 10 && x < 100 && x % 10 !== 0 && y < 10;
    if (!splitX && !splitY) return whole;
    const [big, small] = splitY ? [y, x] : [x, y];
    const tens = big - (big % 10),
      units = big % 10;
    const terms = splitY ? [`${small} * ${tens}`, `${small} * ${units}`] : [`${tens} * ${small}`, `${units} * ${small}`];
    return `${xs} * ${ys} = ${terms[0]} + ${terms[1]} = ${small * tens} + ${small * units} = ${zs}`;
  });
}

/**
 * `count` problems from `seed`: deterministic, distinct questions, 1–4 steps, non-negative integer
 * results. With `set`, the seed is an offset in the set's range and every question belongs to that
 * set (disjoint from the other two sets' questions).
 */
export function generateProblems(seed: number, count: number, options: GenerateProblemsOptions = {}): GeneratedProblem[] {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer (got ${count})`);
  const minSteps = options.minSteps ?? 1,
    maxSteps = options.maxSteps ?? 4;
  if (!(Number.isInteger(minSteps) && Number.isInteger(maxSteps) && minSteps >= 1 && maxSteps <= 4 && minSteps <= maxSteps)) {
    throw new RangeError(`steps must satisfy 1 ≤ minSteps ≤ maxSteps ≤ 4 (got ${minSteps}, ${maxSteps})`);
  }
  const names = options.templates ?? TEMPLATE_NAMES;
  for (const n of names) if (!TEMPLATES[n]) throw new RangeError(`unknown template "${n}" (choose from ${TEMPLATE_NAMES.join(', ')})`);
  if (names.length === 0) throw new RangeError('no templates');
  const rng = new Rng(mulberry32(seedFor(seed, options.set)));
  const seen = new Set<string>();
  const out: GeneratedProblem[] = [];
  const prefix = options.set ?? 'seed';
  let misses = 0;
  while (out.length < count) {
    const template = rng.pick(names);
    const steps = rng.int(minSteps, maxSteps);
    const b = TEMPLATES[template](rng, steps);
    const ok =
      !seen.has(b.question) &&
      (options.set === undefined || setOfQuestion(b.question) === options.set) &&
      Number.isInteger(b.result) &&
      b.result >= 0 &&
      b.lines.length === steps;
    if (!ok) {
      if (++misses > 1000 * (count + 10)) throw new Error(`could not generate ${count} distinct problems (got ${out.length}); widen the options`);
      continue;
    }
    seen.add(b.question);
    out.push({ id: `${prefix}-${seed}-${out.length}`, question: b.question, answer: formatAnswer(b.lines, b.result), result: b.result, template, steps });
  }
  return out;
}

/** Problems as JSONL lines ({id, question, answer}), the format `eval` and `sample` read. */
export function problemsToJsonl(problems: GeneratedProblem[]): string {
  return problems.map((p) => JSON.stringify({ id: p.id, question: p.question, answer: p.answer })).join('\n') + (problems.length ? '\n' : '');
}
