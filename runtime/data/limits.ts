// Size bounds on user data lines (JSONL problems, eval sets, samples). A line is parsed whole and a
// question goes through the chat template and the tokenizer; a 100 MB "question" would take
// gigabytes and a minute before being refused for not fitting the model. So lines past these
// bounds are refused at once, by file and line, before any parsing — far above real data (a GSM8K
// or MATH question is under 2 KB; a sample line carries at most a context's worth of token ids).
// They also keep what reaches the tokenizer small enough that its deadline
// (model/tokenizer.ts) can only be hit by a hostile tokenizer, never by a big but honest input.

/** Most characters in one problem line (question, id, answer…) or one question. */
export const MAX_PROBLEM_CHARS = 2 ** 20;
/** Most characters in one line of a samples or trajectories file (token ids and text). */
export const MAX_SAMPLE_LINE_CHARS = 16 * 2 ** 20;

/** Why `text` is too long to be one `what` (null when it fits). */
export function tooLong(text: string, max: number, what: string): string | null {
  if (text.length <= max) return null;
  return `${what} has ${text.length} characters, more than the ${max} (${max / 2 ** 20} Mi) this tool accepts — is this the right file?`;
}
