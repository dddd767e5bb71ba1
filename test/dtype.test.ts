import t from 'tap';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, firstNonFinite } from '../runtime/util/dtype.ts';

t.test('f16 and bf16 round trips match known bit patterns', async (t) => {
  t.equal(f32ToF16(1), 0x3c00);
  t.equal(f32ToF16(-2), 0xc000);
  t.equal(f32ToF16(65504), 0x7bff);
  t.equal(f32ToF16(1e-7), 0x0002, 'subnormal');
  t.equal(f16ToF32(0x3555), 0.333251953125);
  t.equal(f32ToBf16(1), 0x3f80);
  t.equal(bf16ToF32(0x4049), 3.140625);
  t.equal(f32ToBf16(1.00390625), 0x3f80, 'ties to even');
  for (let k = 0; k < 1000; k++) {
    const x = (Math.random() - 0.5) * 100;
    t.ok(Math.abs(f16ToF32(f32ToF16(x)) - x) <= Math.abs(x) * 2 ** -11 + 1e-7);
    t.ok(Math.abs(bf16ToF32(f32ToBf16(x)) - x) <= Math.abs(x) * 2 ** -8);
  }
});

t.test('firstNonFinite: the first NaN/±Inf of each dtype, at every position, aligned or not, odd lengths', async (t) => {
  const encode = { f32: (v: number) => [v], bf16: (v: number) => [f32ToBf16(v)], f16: (v: number) => [f32ToF16(v)] };
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    const unit = dtype === 'f32' ? 4 : 2;
    // the largest finite values and the smallest subnormals must not count
    const finite =
      dtype === 'f32'
        ? [3.4028234663852886e38, -3.4028234663852886e38, 1e-45]
        : dtype === 'bf16'
          ? [bf16ToF32(0x7f7f), bf16ToF32(0xff7f), 1e-40]
          : [65504, -65504, 6e-8];
    for (const n of [1, 2, 3, 7, 8, 9, 17, 33]) {
      for (const shift of [0, 2, 4]) {
        // 2: not 4-aligned (the per-value path)
        const buf = new Uint8Array(n * unit + shift);
        const values = buf.subarray(shift);
        const put = (i: number, v: number) => {
          if (dtype === 'f32') new DataView(values.buffer, values.byteOffset).setFloat32(4 * i, v, true);
          else new DataView(values.buffer, values.byteOffset).setUint16(2 * i, encode[dtype](v)[0], true);
        };
        for (let i = 0; i < n; i++) put(i, finite[i % 3]);
        t.equal(firstNonFinite(dtype, values), -1, `${dtype} n=${n} shift=${shift}: all finite`);
        for (const bad of [NaN, Infinity, -Infinity]) {
          for (const at of new Set([0, n >> 1, n - 1])) {
            put(at, bad);
            if (at + 1 < n) put(n - 1, NaN); // a later one must not win
            const got = firstNonFinite(dtype, values);
            if (got !== at) t.fail(`${dtype} n=${n} shift=${shift}: ${bad} at ${at}, found ${got}`);
            for (let i = 0; i < n; i++) put(i, finite[i % 3]);
          }
        }
      }
    }
  }
  t.pass('every case found its first non-finite value');
});
