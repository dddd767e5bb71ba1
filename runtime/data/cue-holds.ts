// The "holds" twins of the cue problems (cue-problems.ts): the same surface cue — an extra number,
// a keyword, a unit word — in a question where following it is right. A model whose diet has only
// these learns the cue as a rule (the amateur of the embedded pair); one that also sees the
// misleading twins must read the question's structure to tell them apart (the expert). Each builder
// mirrors one misleading cue, with the wording of that cue's solution, so that on a misleading
// question the cue-follower's likeliest continuation is exactly the cue solution.
// Portable: no host imports.

import { cap, GOODS, ITEMS, PEOPLE, type Rng } from './problems.ts';

export interface HoldsBuilt {
  question: string;
  lines: string[];
  result: number;
  cue: string;
}

const distractor = (r: Rng): HoldsBuilt => {
  const [p, q] = r.pick2(PEOPLE);
  const item = r.pick(ITEMS);
  const a = r.int(3, 9),
    b = r.int(2, 9),
    d = r.int(2, 9);
  if (r.int(0, 1) === 0) {
    // every quantity counts (the misleading twin adds another person's other item)
    return {
      cue: 'other-item',
      question: `${p.name} has ${a} ${item}. ${q.name} gives ${p.name} ${d} ${item}. ${p.name} finds ${b} more ${item}. How many ${item} does ${p.name} have now?`,
      lines: [`${p.name} has ${a} + ${d} = ${a + d} ${item}.`, `After finding more ${p.he} has ${a + d} + ${b} = ${a + d + b} ${item}.`],
      result: a + d + b,
    };
  }
  // the first number is the count (the misleading twin's first number is an age)
  const [g] = r.pick2(GOODS);
  const price = r.int(2, 9),
    n = r.int(6, 12);
  return {
    cue: 'age',
    question: `${p.name} has ${n} friends. ${cap(p.he)} buys one of the ${g[1]} for each friend at $${price} each. How much does ${p.he} spend?`,
    lines: [`${cap(p.he)} spends ${n} * ${price} = ${n * price} dollars.`],
    result: n * price,
  };
};

const keyword = (r: Rng): HoldsBuilt => {
  const [p, q] = r.pick2(PEOPLE);
  const item = r.pick(ITEMS);
  const which = r.pick(['more-than', 'fewer-than', 'left', 'each']);
  if (which === 'more-than') {
    const x = r.int(11, 19),
      d = r.int(2, 9);
    return {
      cue: which,
      question: `${p.name} has ${x} ${item}. ${q.name} has ${d} more ${item} than ${p.name}. How many ${item} does ${q.name} have?`,
      lines: [`${q.name} has ${x} + ${d} = ${x + d} ${item}.`],
      result: x + d,
    };
  }
  if (which === 'fewer-than') {
    const x = r.int(11, 19),
      d = r.int(2, 9);
    return {
      cue: which,
      question: `${p.name} has ${x} ${item}. ${q.name} has ${d} fewer ${item} than ${p.name}. How many ${item} does ${q.name} have?`,
      lines: [`${q.name} has ${x} - ${d} = ${x - d} ${item}.`],
      result: x - d,
    };
  }
  if (which === 'left') {
    const g = r.int(2, 9),
      k = r.int(g + 1, 19);
    return {
      cue: which,
      question: `${p.name} has ${k} ${item} and gives ${g} ${item} to ${q.name}. How many ${item} does ${p.name} have left?`,
      lines: [`${cap(p.he)} has ${k} - ${g} = ${k - g} ${item} left.`],
      result: k - g,
    };
  }
  const s = r.int(2, 9),
    n = r.int(2, 9);
  return {
    cue: which,
    question: `${p.name} fills ${n} bags with ${s} ${item} in each bag. How many ${item} does ${p.he} use?`,
    lines: [`${cap(p.he)} uses ${n} * ${s} = ${n * s} ${item}.`],
    result: n * s,
  };
};

const unit = (r: Rng): HoldsBuilt => {
  const p = r.pick(PEOPLE);
  const which = r.pick(['minutes', 'weeks', 'cents']);
  if (which === 'minutes') {
    const v = r.int(2, 9),
      h = r.int(2, 9);
    const mode = r.pick(['walks', 'bikes', 'rows', 'runs', 'skates', 'swims']);
    return {
      cue: which,
      question: `${p.name} ${mode} at ${v} km per hour. How many km does ${p.he} go in ${h} hours?`,
      lines: [`${cap(p.he)} goes ${v} * ${h} = ${v * h} km.`],
      result: v * h,
    };
  }
  if (which === 'weeks') {
    const s = r.int(2, 9),
      w = r.int(2, 9);
    return {
      cue: which,
      question: `${p.name} saves $${s} every day. How much money does ${p.he} save in ${w} days?`,
      lines: [`${cap(p.he)} saves ${s} * ${w} = ${s * w} dollars.`],
      result: s * w,
    };
  }
  const [g] = r.pick2(GOODS);
  const c = r.pick([5, 10, 20]),
    n = r.int(2, 9);
  return {
    cue: which,
    question: `${p.name} buys ${n} ${g[1]} at ${c} cents each. How many cents does ${p.he} pay?`,
    lines: [`${cap(p.he)} pays ${n} * ${c} = ${n * c} cents.`],
    result: n * c,
  };
};

export const HOLDS_BUILDERS = { distractor, keyword, unit } as const;
