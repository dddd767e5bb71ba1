// The paper's benchmarks by the Qwen2.5-Math toolkit's names: where each data set lives on the
// Hub, how a record becomes a question (the toolkit's parse_question) and its gold answer (its
// parse_ground_truth), and grading with the toolkit's rules (./toolkit/). Also re-grading the rows
// of an earlier eval output. Portable: no host imports.

import { badInputError } from '../errors.ts';
import { mathEqual } from './toolkit/equal.ts';
import {
  BENCHMARK_NAMES,
  type BenchmarkName,
  cleanGold,
  extractToolkitAnswer,
  isMultipleChoice,
  toolkitGold,
  type ToolkitExtraction,
  toolkitPrediction,
} from './toolkit/extract.ts';
import type { EvalProblem } from './evaluate.ts';

export { BENCHMARK_NAMES, type BenchmarkName };

export interface BenchmarkSpec {
  name: BenchmarkName;
  /** The name the paper's table uses. */
  title: string;
  /** The data set(s), read in order and joined (hf://datasets/org/name/config/split). */
  data: string[];
  /** Records kept (the toolkit's filters), by their raw fields. */
  keep?: (r: Record<string, unknown>) => boolean;
}

// MMLU-STEM: the toolkit's 18 STEM subjects of hails/mmlu_no_train.
const MMLU_STEM_SUBJECTS = new Set([
  'abstract_algebra',
  'astronomy',
  'college_biology',
  'college_chemistry',
  'college_computer_science',
  'college_mathematics',
  'college_physics',
  'computer_security',
  'conceptual_physics',
  'electrical_engineering',
  'elementary_mathematics',
  'high_school_biology',
  'high_school_chemistry',
  'high_school_computer_science',
  'high_school_mathematics',
  'high_school_physics',
  'high_school_statistics',
  'machine_learning',
]);

const MATH_SUBJECTS = ['algebra', 'counting_and_probability', 'geometry', 'intermediate_algebra', 'number_theory', 'prealgebra', 'precalculus'];

export const BENCHMARKS: Record<BenchmarkName, BenchmarkSpec> = {
  gsm8k: { name: 'gsm8k', title: 'GSM8K', data: ['hf://datasets/openai/gsm8k/main/test'] },
  // The toolkit loads `competition_math` (no longer on the Hub); EleutherAI's copy holds the same 5,000 test problems by subject.
  math: { name: 'math', title: 'MATH', data: MATH_SUBJECTS.map((s) => `hf://datasets/EleutherAI/hendrycks_math/${s}/test`) },
  math_oai: { name: 'math_oai', title: 'MATH-500', data: ['hf://datasets/HuggingFaceH4/MATH-500/default/test'] },
  // The toolkit evaluates SVAMP on its train and test splits together (1,000 problems).
  svamp: { name: 'svamp', title: 'SVAMP', data: ['hf://datasets/ChilleD/SVAMP/default/train', 'hf://datasets/ChilleD/SVAMP/default/test'] },
  asdiv: {
    name: 'asdiv',
    title: 'ASDiv',
    data: ['hf://datasets/EleutherAI/asdiv/asdiv/validation'],
    keep: (r) => typeof r.answer === 'string' && !r.answer.includes(';'),
  },
  minerva_math: { name: 'minerva_math', title: 'Minerva Math', data: ['hf://datasets/math-ai/minervamath/default/test'] },
  olympiadbench: { name: 'olympiadbench', title: 'OlympiadBench', data: ['hf://datasets/Hothan/OlympiadBench/OE_TO_maths_en_COMP/train'] },
  mmlu_stem: {
    name: 'mmlu_stem',
    title: 'MMLU-STEM',
    data: ['hf://datasets/hails/mmlu_no_train/all/test'],
    keep: (r) => MMLU_STEM_SUBJECTS.has(String(r.subject ?? r.type)),
  },
};

export function benchmarkSpec(nameOrEntry: string): BenchmarkSpec {
  const name = nameOrEntry.split('=')[0];
  if (!(BENCHMARK_NAMES as readonly string[]).includes(name))
    throw badInputError(`--benchmark ${name}: unknown benchmark (choose ${BENCHMARK_NAMES.join(', ')})`);
  return BENCHMARKS[name as BenchmarkName];
}

const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');

/** A record's question as the toolkit builds it (its parse_question), or '' when there is none. */
function benchmarkQuestion(r: Record<string, unknown>, name: BenchmarkName, gold: string | null): string {
  let q = '';
  if (name === 'asdiv') q = `${text(r.body)} ${text(r.question)}`;
  else if (name === 'svamp') {
    const body = text(r.Body ?? r.body);
    q = `${body.endsWith('.') ? body : `${body}.`} ${text(r.Question ?? r.question)}`;
  } else if (name === 'mmlu_stem') {
    const choices = Array.isArray(r.choices) ? r.choices : [];
    q = `${text(r.question)}\nAnswer Choices: ${choices.map((c, i) => `(${'ABCD'[i]}) ${String(c).trim()}`).join(' ')}`;
  } else {
    for (const key of ['question', 'problem', 'Question', 'input']) {
      if (typeof r[key] === 'string') {
        q = r[key] as string;
        break;
      }
    }
  }
  const g = gold?.toLowerCase();
  if (g === 'true' || g === 'false') q += ' (True or False)';
  if (g === 'yes' || g === 'no') q += ' (Yes or No)';
  return q.trim();
}

/** A benchmark's problems from its JSONL text (raw records as the data set has them). */
export function parseBenchmarkProblems(jsonl: string, name: BenchmarkName, file = 'input'): EvalProblem[] {
  const spec = BENCHMARKS[name];
  const out: EvalProblem[] = [];
  for (const [i, raw] of jsonl.split('\n').entries()) {
    if (raw.trim() === '') continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(raw);
    } catch {
      throw badInputError(`${file}:${i + 1}: not valid JSON`, file);
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw badInputError(`${file}:${i + 1}: not a JSON object`, file);
    if (spec.keep && !spec.keep(r)) continue;
    const gold = toolkitGold(r, name);
    if (gold === null) throw badInputError(`${file}:${i + 1}: no gold answer for ${name} (${goldFieldHelp(name)})`, file);
    const question = benchmarkQuestion(r, name, gold);
    if (question === '') throw badInputError(`${file}:${i + 1}: no question for ${name}`, file);
    const id = r.id ?? r.idx ?? r.unique_id ?? r.ID;
    out.push({ id: typeof id === 'string' || typeof id === 'number' ? String(id) : String(out.length), question, gold, line: i + 1 });
  }
  if (out.length === 0) throw badInputError(`${file}: no ${name} problems in it`, file);
  // Ids must be unique for --paired-with; joined splits (SVAMP) or subjects (MATH) may repeat them.
  if (new Set(out.map((p) => p.id)).size !== out.length) for (const [k, p] of out.entries()) p.id = String(k);
  return out;
}

function goldFieldHelp(name: string): string {
  return (
    (
      {
        gsm8k: '"answer" ending in "#### N"',
        math: '"solution" with \\boxed{}',
        minerva_math: '"solution" with \\boxed{}',
        math_oai: '"answer"',
        svamp: '"Answer"',
        asdiv: '"answer"',
        mmlu_stem: '"answer" 0–3',
        olympiadbench: '"final_answer" list',
      } as Record<string, string>
    )[name] ?? 'a gold field'
  );
}

export interface BenchmarkGrade {
  extracted: string;
  method: ToolkitExtraction['method'];
  correct: boolean;
}

/** Grade one model output against a cleaned gold answer with the benchmark's rules. */
export async function gradeBenchmarkOutput(output: string, gold: string, name: BenchmarkName): Promise<BenchmarkGrade> {
  const { answer, method } = toolkitPrediction(output, name);
  return { extracted: answer, method, correct: await mathEqual(answer, gold) };
}

/**
 * The gold of an eval output row, cleaned for the benchmark: `gold` as written (a raw form — a GSM8K
 * "#### N" line, a MATH solution with \boxed{}, an MMLU index — is read as the data set's field would be).
 */
export function rowGold(gold: unknown, name: BenchmarkName): string | null {
  if (isMultipleChoice(name)) {
    if (typeof gold === 'number') return toolkitGold({ answer: gold }, name);
    return typeof gold === 'string' && gold.trim() !== '' ? gold.trim() : null;
  }
  if (typeof gold === 'number') return Number.isFinite(gold) ? cleanGold(String(gold), name) : null;
  if (typeof gold !== 'string') return null;
  if (name === 'gsm8k' && gold.includes('####')) return toolkitGold({ answer: gold }, name);
  if (gold.includes('boxed')) return cleanGold(extractToolkitAnswer(gold, name).answer, name);
  // The data sets' own field forms ("9 (apples)", "$x$"); both steps leave a cleaned gold as it is.
  if (name === 'asdiv' || name === 'olympiadbench') return toolkitGold(name === 'asdiv' ? { answer: gold } : { final_answer: [gold] }, name);
  return cleanGold(gold, name);
}

export interface GradedRows {
  rows: Record<string, unknown>[];
  correct: number;
  total: number;
}

/** Re-grade the rows of an eval output (each with `output` and `gold`): `extracted` and `correct` recomputed. */
export async function gradeRows(jsonl: string, name: BenchmarkName, file = 'input', onRow?: (done: number) => void): Promise<GradedRows> {
  const rows: Record<string, unknown>[] = [];
  let correct = 0;
  for (const [i, line] of jsonl.split('\n').entries()) {
    if (line.trim() === '') continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      throw badInputError(`${file}:${i + 1}: not valid JSON — give the JSONL that eval --out wrote`, file);
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw badInputError(`${file}:${i + 1}: not a JSON object`, file);
    if (typeof r.output !== 'string') throw badInputError(`${file}:${i + 1}: no "output" string — each row needs the model's output`, file);
    const gold = rowGold(r.gold, name);
    if (gold === null) throw badInputError(`${file}:${i + 1}: no usable "gold" (a string, or a number) — each row needs its gold answer`, file);
    const g = await gradeBenchmarkOutput(r.output, gold, name);
    if (g.correct) correct++;
    rows.push({ ...r, extracted: g.extracted, method: g.method, correct: g.correct });
    onRow?.(rows.length);
  }
  if (rows.length === 0) throw badInputError(`${file}: no rows to grade (the file is empty)`, file);
  return { rows, correct, total: rows.length };
}
