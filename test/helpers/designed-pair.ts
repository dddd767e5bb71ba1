// Models with designed next-token distributions, for pair-check tests whose outcome is provable:
// a character-level "language" in which a problem's prompt is its question, every answer is
// "=" + one token + EOS, and the expert's and amateur's distributions at the answer token are given
// per problem. Both implement what pair decoding needs of a model (DecoderModel) on a real backend,
// so the contrast and argmax are the backend's own ops.
import type { Backend, Tensor } from '../../runtime/backend/types.ts';
import type { ModelConfig } from '../../runtime/model/config.ts';
import type { KVCache } from '../../runtime/model/model.ts';
import type { DecoderModel } from '../../runtime/stage/pair-decode.ts';
import type { PairTokenizer } from '../../runtime/eval/pair-check.ts';

export const EOS = '<eos>';
/** id 0 is EOS; the rest are single characters: 75 ids, more than the 64 label slots a device row
 * holds, with the digits last (ids 65 and up from "4"), so a mask that overflows the slots loses them. */
export const VOCAB = [EOS, ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ=+-*? .,0123456789'];
const ID = new Map(VOCAB.map((c, i) => [c, i]));

/** Next-token probabilities by token text; the rest of the mass is spread over the other tokens. */
export type Dist = Record<string, number>;

export interface DesignedProblem {
  question: string;
  gold: string;
  /** The two models' distributions at the answer token (after "="). */
  expert: Dist;
  amateur: Dist;
  /** The problem's kind (pair-check then reports per kind). */
  kind?: string;
}

export const designedTokenizer: PairTokenizer = {
  chatTemplate: 'designed',
  // The prompt is the question itself (the system message is ignored).
  encodeChat: (messages) => encode(messages[messages.length - 1].content),
  decode: (ids, skipSpecial = false) => ids.map((id) => (id === 0 && skipSpecial ? '' : VOCAB[id])).join(''),
};

function encode(text: string): number[] {
  return [...text].map((c) => {
    const id = ID.get(c);
    if (id === undefined) throw new Error(`designed vocabulary has no "${c}"`);
    return id;
  });
}

/** Logits (log-probabilities) of a distribution over the vocabulary. */
function logitsOf(d: Dist): Float32Array {
  const out = new Float32Array(VOCAB.length);
  const listed = Object.entries(d);
  const mass = listed.reduce((a, [, p]) => a + p, 0);
  if (!(mass < 1)) throw new Error('designed distributions must leave some mass to the other tokens');
  out.fill(Math.log((1 - mass) / (VOCAB.length - listed.length)));
  for (const [tok, p] of listed) out[ID.get(tok)!] = Math.log(p);
  return out;
}

/** A distribution sure of one token (the rest 1e-9 in all). */
const sure = (tok: string): Dist => ({ [tok]: 1 - 1e-9 });

type DesignedCache = KVCache & { seqs: number[][] };

/** A model whose next token, after prompt + generated text, follows `problems`' design for `who`. */
export function designedModel(backend: Backend, problems: DesignedProblem[], who: 'expert' | 'amateur'): DecoderModel {
  const byQuestion = new Map(problems.map((p) => [p.question, p]));
  const config = { vocabSize: VOCAB.length, eosTokenIds: [0], maxPositions: 4096 } as unknown as ModelConfig;
  let logits: Tensor | null = null;
  const next = (seq: number[]): Dist => {
    const text = designedTokenizer.decode(seq);
    const eq = text.indexOf('=');
    if (eq < 0) return sure('=');
    const p = byQuestion.get(text.slice(0, eq));
    if (!p) throw new Error(`no designed problem for "${text}"`);
    return text.length === eq + 1 ? p[who] : sure(EOS);
  };
  return {
    config,
    backend,
    source: `designed ${who}`,
    createCache: (slots: number, maxT: number) => ({ slots, maxT, k: [], v: [], seqs: Array.from({ length: slots }, () => []) }) as DesignedCache,
    disposeCache: () => {},
    forward(input, cache) {
      const seqs = (cache as DesignedCache).seqs;
      for (let i = 0; i < input.tokens.length; i++) seqs[input.rows[2 * i]][input.rows[2 * i + 1]] = input.tokens[i];
      const m = input.logitRows.length,
        V = VOCAB.length;
      const data = new Float32Array(m * V);
      for (let j = 0; j < m; j++) {
        const r = input.logitRows[j],
          slot = input.rows[2 * r],
          pos = input.rows[2 * r + 1];
        data.set(logitsOf(next(seqs[slot].slice(0, pos + 1))), j * V);
      }
      if (logits) backend.dispose(logits);
      logits = backend.createTensor('f32', [m, V], data);
      return logits;
    },
  } as DecoderModel;
}
