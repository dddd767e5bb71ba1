import t from 'tap';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../runtime/util/dtype.ts';

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
