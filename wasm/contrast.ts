// LightReasoner's expert/amateur contrast (runtime/backend/types.ts, Backend.contrast), one row at
// a time over rows [r0, r1). No scratch: each row is read in streaming passes
//   1. maxima: of the expert over ids < n (for the mask) and over its whole row, of the amateur;
//   2. softmax denominators SE = Σ exp(e − maxE), SA = Σ exp(a − maxA) over each whole vocabulary;
//   3. over ids < n: the KL terms, the mask (a SIMD compare), the first K mask ids, Z below;
//   4. over the ≤ K stored label ids: their weights.
// Passes 1–3 are f32x4 with polynomial exp/log (Cephes expf/logf, ~1–2 ulp on the ranges used).
//
// Precision choices (the reference is f64; the target is a float32 PyTorch computation):
//  * Every sum over V (SE, SA, KL, Σ pE, Z) adds f32x4 values into f64x2 accumulators: f32
//    accumulation over 152k terms (even in blocks of 1024) biased SE by ~2e-7 relative, which is a
//    2e-7 bias in every log-ratio and a 3e-3 relative KL error on flat rows (KL ~ 1e-4).
//  * ε = 1e-12. pE and pA are formed in f32 as exp(x − max) · (1 / S); f32 has the range for
//    p + ε (the smallest normal is 1.2e-38) and keeps its relative precision for p near or below ε,
//    so p + ε is good to an ulp. But never subtract two logs ln(pE + ε) − ln(pA + ε): for p ~ 1/V
//    both are ≈ −12, where one f32 ulp is 1e-6. Each KL term takes ONE log of the ratio,
//    ρ = (pE + ε) / (pA + ε), pE · ln ρ, good to ~1e-7 absolute when pE ≈ pA (flat rows, KL ≈ 0)
//    and ~1e-7 relative otherwise. ρ ∈ [1e-12, 1e12] is always a normal f32. Where p underflows
//    (x − max < −87) the exp input is clamped, giving p ≈ 1e-38 ≪ ε, which changes nothing; a −∞
//    logit therefore gives a finite log and a zero-weight term, as in the reference.
//  * 1 / SE and 1 / SA rounded to f32 scale all pE (pA) by a common 1 + δ; the resulting bias
//    (δE − δA)·Σ pE is removed from KL in f64 (it is the leading error on flat rows).
//  * The mask test pE_i ≥ α · max_{j<n} pE_j is e_i ≥ max_{j<n} e_j + ln α (log domain): with the
//    threshold rounded UP to an f32 this is an exact f32 compare of the logits, equal to the f64
//    test e_i − maxS ≥ ln α; it differs from the reference only within ~1e-16 relative of the
//    threshold. (The reference's pE can underflow to 0 in f64, for logits 745 below the maximum;
//    the log-domain test has no such case.)
//  * Weights: softmax over the mask of ln ρ_i is ρ_i / Σ_mask ρ_j (ρ is bounded, so no max shift
//    is needed). Z = Σ_mask ρ_j is summed in pass 3 from the f32 ρ over the WHOLE mask (so rows
//    with |mask| > K are normalised as in the reference); the ≤ K stored weights use ρ_i recomputed
//    in f64 (exp/log of f64), few enough to be free.

import { expv } from './expv';

const EPS: f64 = 1e-12;
const EPS32: f32 = 1e-12;

// ---- f32x4 exp (expv.ts) and log ---------------------------------------------------------------

/** ln x for positive normal x (here x ∈ [1e-12·…, 1e12·…], ratios of p + ε). */
@inline function log4(x0: v128): v128 {
  const bits = x0;
  // x = m · 2^e with m ∈ [0.5, 1)
  let e = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(bits, 23), i32x4.splat(126)));
  let m = v128.or(v128.and(bits, i32x4.splat(0x007fffff)), i32x4.splat(0x3f000000));
  // m < √½ → use 2m − 1 and e − 1, else m − 1 (keeps the polynomial argument in [−0.29, 0.41])
  const small = f32x4.lt(m, f32x4.splat(0.707106781186547524));
  e = f32x4.sub(e, v128.and(small, f32x4.splat(1)));
  m = f32x4.sub(f32x4.add(m, v128.and(small, m)), f32x4.splat(1));
  const z = f32x4.mul(m, m);
  let y = f32x4.splat(7.0376836292e-2);
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-1.1514610310e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(1.1676998740e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-1.2420140846e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(1.4249322787e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-1.6668057665e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(2.0000714765e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-2.4999993993e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(3.3333331174e-1));
  y = f32x4.mul(f32x4.mul(y, m), z);
  y = f32x4.add(y, f32x4.mul(e, f32x4.splat(-2.12194440e-4)));
  y = f32x4.sub(y, f32x4.mul(z, f32x4.splat(0.5)));
  return f32x4.add(f32x4.add(m, y), f32x4.mul(e, f32x4.splat(0.693359375)));
}

/** The four f32 lanes of v summed pairwise in f64, as an f64x2 to add to an f64x2 accumulator. */
@inline function widen(v: v128): v128 {
  return f64x2.add(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1)));
}

@inline function hsum64(a: v128): f64 {
  return f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
}

@inline function maxOf(p: usize, j0: i32, j1: i32): f32 {
  let j = j0;
  let m = f32x4.splat(-Infinity);
  for (; j + 4 <= j1; j += 4) m = f32x4.max(m, v128.load(p + (<usize>j << 2)));
  let best = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; j < j1; j++) best = max(best, load<f32>(p + (<usize>j << 2)));
  return best;
}

/** Σ exp(x_j − mx) over j < V (f32 exp, f64 sum). */
function expSum(p: usize, V: i32, mx: f32): f64 {
  const mv = f32x4.splat(mx);
  let acc = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= V; j += 4) acc = f64x2.add(acc, widen(expv(f32x4.sub(v128.load(p + (<usize>j << 2)), mv))));
  let total = hsum64(acc);
  for (; j < V; j++) total += Math.exp(<f64>load<f32>(p + (<usize>j << 2)) - <f64>mx);
  return total;
}

/**
 * The smallest f32 ≥ t: a logit x (an f32) satisfies x ≥ t exactly when x ≥ ceilF32(t), so the
 * mask test runs on f32 lanes with the outcome of the f64 test x − maxS ≥ ln α (x − maxS is exact
 * in f64, so that test is x ≥ maxS + ln α up to one f64 rounding of the sum).
 */
@inline function ceilF32(t: f64): f32 {
  let f = <f32>t;
  if (<f64>f < t) f = reinterpret<f32>(f == 0 ? 1 : f > 0 ? reinterpret<i32>(f) + 1 : reinterpret<i32>(f) - 1);
  return f;
}

/** (pE_i + ε) / (pA_i + ε) in f64 from the row's maxima and denominators. */
@inline function ratio64(er: usize, ar: usize, i: i32, mE: f32, mA: f32, SE: f64, SA: f64): f64 {
  const pe = Math.exp(<f64>load<f32>(er + (<usize>i << 2)) - <f64>mE) / SE;
  const pa = Math.exp(<f64>load<f32>(ar + (<usize>i << 2)) - <f64>mA) / SA;
  return (pe + EPS) / (pa + EPS);
}

/**
 * Per row r in [r0, r1): expert logits e [*, Ve], amateur logits a [*, Va], shared vocabulary
 * n ≤ min(Ve, Va); writes stats [*, 2] = (kl, |mask|), ids i32 [*, K] and w f32 [*, K].
 */
export function contrast(
  e: usize, a: usize, stats: usize, ids: usize, w: usize,
  Ve: i32, Va: i32, n: i32, alpha: f64, K: i32, r0: i32, r1: i32,
): void {
  const lnAlpha: f64 = alpha > 0 ? Math.log(alpha) : -Infinity;
  for (let r = r0; r < r1; r++) {
    const er = e + <usize>r * Ve * 4, ar = a + <usize>r * Va * 4;
    const ir = ids + <usize>r * K * 4, wr = w + <usize>r * K * 4;

    // 1. maxima
    const mS = maxOf(er, 0, n);
    const mE = max(mS, maxOf(er, n, Ve));
    const mA = maxOf(ar, 0, Va);

    // 2. denominators
    const SE = expSum(er, Ve, mE), SA = expSum(ar, Va, mA);
    const iSE = <f32>(1 / SE), iSA = <f32>(1 / SA);

    // 3. over ids < n: KL = Σ pE · ln ρ with ρ = (pE + ε) / (pA + ε), and the mask. The label
    // weights are softmax_mask(ln ρ) = ρ_i / Σ_mask ρ_j: ρ ∈ [1e-12, 1e12], so no max shift is
    // needed and Z = Σ_mask ρ is a plain sum (f32x4 in blocks, f64 across).
    const thr32 = ceilF32(<f64>mS + lnAlpha);
    const mEv = f32x4.splat(mE), mAv = f32x4.splat(mA), iSEv = f32x4.splat(iSE), iSAv = f32x4.splat(iSA);
    const epsv = f32x4.splat(EPS32), thrv = f32x4.splat(thr32);
    let acc = f64x2.splat(0), zacc = acc, pacc = acc;
    let count = 0;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      const ev = v128.load(er + o);
      const pe = f32x4.mul(expv(f32x4.sub(ev, mEv)), iSEv);
      const pa = f32x4.mul(expv(f32x4.sub(v128.load(ar + o), mAv)), iSAv);
      const rho = f32x4.div(f32x4.add(pe, epsv), f32x4.add(pa, epsv));
      acc = f64x2.add(acc, widen(f32x4.mul(pe, log4(rho))));
      pacc = f64x2.add(pacc, widen(pe));
      const mk = f32x4.ge(ev, thrv);
      let bits = i32x4.bitmask(mk);
      if (bits) {
        zacc = f64x2.add(zacc, widen(v128.and(mk, rho)));
        if (count >= K) count += popcnt(bits);
        else {
          do {
            if (count < K) store<i32>(ir + (<usize>count << 2), j + ctz(bits));
            count++;
            bits &= bits - 1;
          } while (bits);
        }
      }
    }
    let kl = hsum64(acc), Z = hsum64(zacc), sumPe = hsum64(pacc);
    // 1/SE and 1/SA were rounded to f32, which scales every pE (pA) by the same 1 + δ (|δ| ≤ 6e-8):
    // a bias of δE − δA in every ln ρ where p ≫ ε, i.e. (δE − δA)·Σ pE in KL — which is all the
    // error there is on flat rows (KL ~ 1e-4). Taken out here (terms with p ≲ ε are off by ≤ δ·pE).
    kl += (Math.log(1 / (SE * <f64>iSE)) - Math.log(1 / (SA * <f64>iSA))) * sumPe;
    for (; j < n; j++) {
      const x = load<f32>(er + (<usize>j << 2));
      const pe = Math.exp(<f64>x - <f64>mE) / SE;
      const rho = ratio64(er, ar, j, mE, mA, SE, SA);
      kl += pe * Math.log(rho);
      if (x >= thr32) {
        Z += rho;
        if (count < K) store<i32>(ir + (<usize>count << 2), j);
        count++;
      }
    }

    // 4. weights of the stored labels, padding
    const kept = min(count, K);
    for (let k = 0; k < kept; k++) {
      store<f32>(wr + (<usize>k << 2), <f32>(ratio64(er, ar, load<i32>(ir + (<usize>k << 2)), mE, mA, SE, SA) / Z));
    }
    for (let k = kept; k < K; k++) {
      store<i32>(ir + (<usize>k << 2), -1);
      store<f32>(wr + (<usize>k << 2), 0);
    }
    store<f32>(stats + (<usize>r << 3), <f32>kl);
    store<f32>(stats + (<usize>r << 3), <f32>count, 4);
  }
}
