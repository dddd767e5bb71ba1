import { checkBenchmarkGrading } from './test/portable/benchmark-grading.ts';
const r = await checkBenchmarkGrading();
for (const c of r) if (!c.ok) console.log(c.name, '::', c.detail);
console.log(r.filter((c) => c.ok).length, '/', r.length);
