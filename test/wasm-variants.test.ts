// The Wasm matmul's per-host variants (runtime/backend/wasm/variants.ts, issue 18): every variant
// gives the same bits as every other — one thread or two, plain or relaxed SIMD, any weight dtype,
// odd shapes — and stays within tolerance of the scalar oracle; the choice is remembered per host,
// and can be forced by option or environment with clear errors for a bad spec.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// the Node adapter keeps tuning in $XDG_CACHE_HOME: a private one, set before the adapter loads
const cacheHome = mkdtempSync(join(tmpdir(), 'lr-variants-'));
process.env.XDG_CACHE_HOME = cacheHome;
delete process.env.LIGHTREASONER_WASM_VARIANT;
t.teardown(() => rmSync(cacheHome, { recursive: true, force: true }));

const { nodeFileSystem } = await import('../runtime/platform/node.ts');
const { fileDigestCache } = await import('../runtime/platform/digest-cache.ts');
const { createWasmBackend: create } = await import('../runtime/backend/wasm/index.ts');
const createWasmBackend = create;
const { ReferenceBackend } = await import('../runtime/backend/reference.ts');
const V = await import('../runtime/backend/wasm/variants.ts');
const { chooseVariant, tune } = await import('../runtime/backend/wasm/tune.ts');
const { encodeFromF32 } = await import('../runtime/util/dtype.ts');
const { rng, uniform } = await import('./portable/random.ts');
type WeightDType = 'f32' | 'f16' | 'bf16';

const rand = rng(0x51ab1e);
const ref = new ReferenceBackend();

t.test('variant specs: round trip, defaults, errors that say the form', async (tt) => {
  for (const v of V.ALL_VARIANTS) tt.same(V.parseVariant(V.formatVariant(v)), v, V.formatVariant(v));
  tt.equal(V.ALL_VARIANTS.length, 8);
  tt.same(V.parseVariant('unpack=once'), { unpack: 'once', prefetch: 'all' }, 'a missing key keeps the default');
  tt.same(V.parseVariant('prefetch=on'), { unpack: 'registers', prefetch: 'all' }, 'on = all');
  tt.same(V.parseVariant('prefetch=batch'), { unpack: 'registers', prefetch: 'batch' });
  tt.ok(
    V.prefetches(V.parseVariant('prefetch=batch'), 8) && !V.prefetches(V.parseVariant('prefetch=batch'), V.ONCE_MIN_ROWS),
    'batch: below ONCE_MIN_ROWS only',
  );
  tt.ok(!V.prefetches(V.parseVariant('prefetch=prefill'), 8) && V.prefetches(V.parseVariant('prefetch=prefill'), 64), 'prefill: from ONCE_MIN_ROWS only');
  tt.same(V.parseVariant(' prefetch = off '), { unpack: 'registers', prefetch: 'none' });
  for (const bad of ['unpack=fast', 'prefetch=yes', 'tile=8', 'unpack=once=1']) {
    tt.throws(
      () => V.parseVariant(bad, 'LIGHTREASONER_WASM_VARIANT'),
      { name: 'RangeError', message: /LIGHTREASONER_WASM_VARIANT: cannot read .*unpack=once,prefetch=batch/ },
      bad,
    );
  }
});

t.test('every variant: the same bits, and the oracle within tolerance', async (tt) => {
  const backends = [
    ['1 thread', await createWasmBackend({ threads: 1, matmulVariant: V.DEFAULT_VARIANT })],
    ['2 threads', await createWasmBackend({ threads: 2, matmulVariant: V.DEFAULT_VARIANT })],
    ['plain SIMD', await createWasmBackend({ threads: 2, relaxedSimd: false, matmulVariant: V.DEFAULT_VARIANT })],
  ] as const;
  tt.teardown(() => {
    for (const [, b] of backends) b.destroy();
  });
  // rows below and from ONCE_MIN_ROWS, across 8-row panels; K with and without a tail; N % 4 ≠ 0
  const shapes: [number, number, number][] = [
    [1, 37, 9],
    [8, 520, 29],
    [15, 72, 30],
    [16, 64, 16],
    [17, 23, 11],
    [33, 1029, 22],
    [64, 256, 130],
    [130, 96, 67],
  ];
  const dtypes: WeightDType[] = ['bf16', 'f16', 'f32'];
  for (const [label, b] of backends) {
    for (const dt of dtypes) {
      for (const [n, K, N] of shapes) {
        const xs = uniform(rand, n * K),
          bytes = encodeFromF32(dt, uniform(rand, N * K)),
          bb = encodeFromF32(dt, uniform(rand, N));
        const x = b.createTensor('f32', [n, K], xs),
          w = b.createWeight(dt, [N, K], bytes),
          bias = b.createWeight(dt, [N], bb),
          o = b.createTensor('f32', [n, N]);
        const xr = ref.createTensor('f32', [n, K], xs),
          wr = ref.createWeight(dt, [N, K], bytes),
          br = ref.createWeight(dt, [N], bb),
          or = ref.createTensor('f32', [n, N]);
        ref.matmul(xr, wr, br, or);
        const want = (await ref.read(or)) as Float32Array;
        let first: Float32Array | null = null;
        for (const v of V.ALL_VARIANTS) {
          b.matmulVariant = v;
          b.matmul(x, w, bias, o);
          const got = (await b.read(o)) as Float32Array;
          const what = `${label} ${dt} [${n},${K}]·[${N},${K}]ᵀ ${V.formatVariant(v)}`;
          let bad = -1;
          for (let i = 0; i < want.length && bad < 0; i++) if (!(Math.abs(got[i] - want[i]) <= 1e-5 * Math.sqrt(K) + 1e-4 * Math.abs(want[i]))) bad = i;
          tt.ok(bad < 0, bad < 0 ? `${what}: oracle` : `${what}: element ${bad} got ${got[bad]}, want ${want[bad]}`);
          if (!first) first = got;
          else {
            const a = new Uint32Array(first.buffer, first.byteOffset, first.length),
              c = new Uint32Array(got.buffer, got.byteOffset, got.length);
            let diff = -1;
            for (let i = 0; i < a.length && diff < 0; i++) if (a[i] !== c[i]) diff = i;
            tt.equal(diff, -1, `${what}: bit-identical to ${V.formatVariant(V.ALL_VARIANTS[0])}`);
          }
        }
        for (const z of [x, w, bias, o]) b.dispose(z);
        b.matmulVariant = V.DEFAULT_VARIANT;
      }
    }
  }
});

t.test('the same bits across thread counts whatever variant each runs', async (tt) => {
  const one = await createWasmBackend({ threads: 1, matmulVariant: 'unpack=once,prefetch=off' });
  const two = await createWasmBackend({ threads: 2, matmulVariant: 'unpack=registers,prefetch=on' });
  tt.teardown(() => {
    one.destroy();
    two.destroy();
  });
  tt.same(one.matmulVariant, { unpack: 'once', prefetch: 'none' }, 'option forces a variant (text form)');
  const [n, K, N] = [48, 200, 77];
  const xs = uniform(rand, n * K),
    bytes = encodeFromF32('bf16', uniform(rand, N * K));
  const outs: Uint32Array[] = [];
  for (const b of [one, two]) {
    const x = b.createTensor('f32', [n, K], xs),
      w = b.createWeight('bf16', [N, K], bytes),
      o = b.createTensor('f32', [n, N]);
    b.matmul(x, w, null, o);
    outs.push(new Uint32Array(((await b.read(o)) as Float32Array).buffer));
  }
  tt.ok(
    outs[0].every((v, i) => v === outs[1][i]),
    '1 thread unpack-once = 2 threads in registers, bit for bit',
  );
});

t.test('the environment forces a variant; a bad one is refused by name', async (tt) => {
  process.env.LIGHTREASONER_WASM_VARIANT = 'unpack=once,prefetch=off';
  const b = await createWasmBackend({ threads: 1 });
  tt.same(b.matmulVariant, { unpack: 'once', prefetch: 'none' });
  b.destroy();
  process.env.LIGHTREASONER_WASM_VARIANT = 'unpack=sometimes';
  await tt.rejects(createWasmBackend({ threads: 1 }), {
    name: 'LightReasonerError',
    code: 'BAD_INPUT',
    message: /LIGHTREASONER_WASM_VARIANT: cannot read "unpack=sometimes".*unset it/,
  });
  delete process.env.LIGHTREASONER_WASM_VARIANT;
});

t.test('auto: tuned once per host, remembered in the user cache, read back', async (tt) => {
  const b = await createWasmBackend({ threads: 2 });
  tt.teardown(() => b.destroy());
  const file = join(cacheHome, 'lightreasoner-wasm', 'wasm-tuning.json');
  const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>; // written before the backend is returned
  const keys = Object.keys(stored);
  tt.equal(keys.length, 1, 'one host key written');
  tt.match(keys[0], /threads\|(node|deno) .*\|wasm simd128/, 'the key names the CPU, threads, engine and build');
  tt.same(V.parseVariant(stored[keys[0]]), b.matmulVariant, 'the stored choice is the one in use');
  tt.ok(V.ALL_VARIANTS.some((v) => V.formatVariant(v) === V.formatVariant(b.matmulVariant)));
  // tune() itself returns one of the variants and leaves the backend's own choice alone
  const before = b.matmulVariant;
  tt.ok(V.ALL_VARIANTS.includes(tune(b)), 'tune picks a listed variant');
  tt.same(b.matmulVariant, before);

  // a host whose store already holds a choice: used as is, nothing measured
  const saved = V.hostTuning();
  const writes: string[] = [];
  V.registerHostTuning({
    hostKey: () => 'test host',
    store: { get: async (k) => (k.startsWith('test host|') ? 'unpack=once,prefetch=off' : undefined), set: async (k, v) => void writes.push(`${k}=${v}`) },
  });
  tt.teardown(() => V.registerHostTuning(saved));
  let matmuls = 0;
  const own = b.matmul.bind(b);
  b.matmul = (...args: Parameters<typeof own>) => {
    matmuls++;
    own(...args);
  };
  tt.same(await chooseVariant(b, undefined), { unpack: 'once', prefetch: 'none' }, 'the remembered choice');
  tt.equal(matmuls, 0, 'no measuring');
  tt.same(writes, []);
  // an unreadable stored value: measured again and rewritten
  V.registerHostTuning({
    hostKey: () => 'other host',
    store: { get: async () => 'garbage', set: async (k, v) => void writes.push(`${k}=${v}`) },
  });
  const v = await chooseVariant(b, 'auto');
  tt.ok(V.ALL_VARIANTS.includes(v));
  tt.ok(matmuls > 0, 'measured');
  b.matmul = own;
  tt.equal(writes.length, 1, 'written back');
  tt.match(writes[0], /^other host\|.*=unpack=(registers|once),prefetch=(all|batch|prefill|none)$/);
});

t.test('the store file: a corrupt one reads as nothing stored, a write replaces it whole', async (tt) => {
  const folder = mkdtempSync(join(tmpdir(), 'lr-store-')),
    file = join(folder, 'wasm-tuning.json');
  tt.teardown(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(file, '{not json');
  const store = fileDigestCache(nodeFileSystem, file, folder, () => true);
  tt.equal(await store.get('any'), undefined, 'corrupt: nothing stored (the host tunes again)');
  await store.set('k1', 'unpack=once,prefetch=all');
  tt.same(JSON.parse(readFileSync(file, 'utf8')), { k1: 'unpack=once,prefetch=all' });
  tt.equal(await fileDigestCache(nodeFileSystem, file, folder, () => true).get('k1'), 'unpack=once,prefetch=all', 'read back by another instance');
});
