// The test oracle of pair-check's shared-prefix pass: ONE decoding variant alone, written as plainly
// as generateGreedy (one KV slot per prompt from the start, every step both models over every
// running prompt, no forks), with the choice rule of LIGHTREASONER.md: greedy = argmax P_E; CD =
// the argmax of the soft label (the contrast op's weights) over the mask, at every step (beta null)
// or at steps t ≥ 1 with KL ≥ beta.
import { contrastRow } from '../../runtime/backend/reference-forward.ts';
import { LABEL_SLOTS } from '../../runtime/stage/contrast.ts';
import type { DecoderModel, DecodeVariant } from '../../runtime/stage/pair-decode.ts';

export async function plainDecode(
  expert: DecoderModel,
  amateur: DecoderModel,
  prompts: number[][],
  v: DecodeVariant,
  maxNew: number,
): Promise<{ tokens: number[][]; finish: string[] }> {
  const b = expert.backend,
    B = prompts.length,
    K = LABEL_SLOTS;
  const Ve = expert.config.vocabSize,
    Va = amateur.config.vocabSize,
    shared = Math.min(Ve, Va);
  const eos = new Set(expert.config.eosTokenIds);
  const maxT = Math.max(...prompts.map((p) => p.length)) + maxNew;
  const ec = expert.createCache(B, maxT),
    ac = amateur.createCache(B, maxT);
  const argmax = b.createTensor('i32', [B]),
    stats = b.createTensor('f32', [B, 2]),
    ids = b.createTensor('i32', [B, K]),
    w = b.createTensor('f32', [B, K]);
  const copy = b.createTensor('f32', [B, Va]);
  const tokens: number[][] = prompts.map(() => []);
  const finish = prompts.map(() => 'length');
  try {
    const flat: number[] = [],
      rows: number[] = [],
      last: number[] = [];
    for (const [s, p] of prompts.entries()) {
      for (const [pos, id] of p.entries()) flat.push(id), rows.push(s, pos);
      last.push(flat.length - 1);
    }
    let input = { tokens: Int32Array.from(flat), rows: Int32Array.from(rows), logitRows: Int32Array.from(last) };
    let running = prompts.map((_, s) => s);
    for (;;) {
      const m = running.length;
      const el = expert.forward(input, ec);
      let al = amateur.forward(input, ac);
      if (amateur.backend !== b) {
        const data = (await amateur.backend.read(al)) as Float32Array;
        al = b.view(copy, [m, Va]);
        b.write(al, data);
      }
      b.argmax(el, b.view(argmax, [m]));
      if (v.alpha !== null) b.contrast(el, al, shared, v.alpha, b.view(stats, [m, 2]), b.view(ids, [m, K]), b.view(w, [m, K]));
      const g = (await b.read(b.view(argmax, [m]))) as Int32Array;
      const st = (await b.read(b.view(stats, [m, 2]))) as Float32Array,
        id = (await b.read(b.view(ids, [m, K]))) as Int32Array,
        wt = (await b.read(b.view(w, [m, K]))) as Float32Array;
      const still: number[] = [];
      for (const [j, s] of running.entries()) {
        const t = tokens[s].length;
        let choice = g[j];
        if (v.alpha !== null && (v.beta === null || (t >= 1 && st[2 * j] >= v.beta))) {
          const size = st[2 * j + 1];
          if (size > K) {
            const e = (await b.read(el)) as Float32Array,
              a = (await b.read(al)) as Float32Array;
            const h = contrastRow(e, j * Ve, Ve, a, j * Va, Va, shared, v.alpha);
            choice = h.ids[h.weights.indexOf(Math.max(...h.weights))];
          } else {
            let best = 0;
            for (let k = 1; k < size; k++) if (wt[j * K + k] > wt[j * K + best]) best = k;
            choice = id[j * K + best];
          }
        }
        tokens[s].push(choice);
        if (eos.has(choice)) finish[s] = 'eos';
        else if (tokens[s].length < maxNew) still.push(s);
      }
      running = still;
      if (running.length === 0) break;
      input = {
        tokens: Int32Array.from(running.map((s) => tokens[s][tokens[s].length - 1])),
        rows: Int32Array.from(running.flatMap((s) => [s, prompts[s].length + tokens[s].length - 1])),
        logitRows: Int32Array.from(running.keys()),
      };
    }
    return { tokens, finish };
  } finally {
    expert.disposeCache(ec);
    amateur.disposeCache(ac);
    for (const t of [argmax, stats, ids, w, copy]) b.dispose(t);
  }
}
