import { gradeBenchmarkOutput, rowGold } from './runtime/eval/benchmarks.ts';
const pairs: [string, string][] = [['1\\,000', '1000'], ['\\frac{3}{2}\\,', '1.5'], ['5\\cdot 10^3', '5000'], ['\\frac{1}{2}(3)', '1.5'], ['3!', '6'], ['\\$1.50', '1.5'], ['1.5\\text{ dollars}', '1.5'], ['\\text{(C)}', 'C'], ['C', '\\text{(C)}'], ['\\textbf{(C)}', '\\text{(C)}'], ['\\mathrm{(C)}', '\\text{(C)}'], ['-\\frac{\\sqrt{3}}{2}', '-\\frac{\\sqrt3}2'], ['\\frac{5}{2}', '2\\frac12'], ['11_2', '3'], ['\\infty', '\\infty'], ['x^3+3x^2+3x+1', '(x+1)^3'], ['0.\\overline{3}', '\\frac13'], ['\\sqrt{2}/2', '\\frac{\\sqrt{2}}{2}'], ['40^\\circ', '40'], ['\\frac{\\pi}{3}', '60^\\circ'], ['2\\sqrt{5}', '\\sqrt{20}'], ['\\left[\\frac{1}{2},1\\right)', '[\\frac12,1)'], ['10\\sqrt{3} \\text{ cm}^2', '10\\sqrt{3}']];
for (const [p, g] of pairs) {
  const r = await gradeBenchmarkOutput(`\\boxed{${p}}`, rowGold(g, 'math')!, 'math');
  console.log(JSON.stringify(p), JSON.stringify(g), '→', JSON.stringify(r.extracted), JSON.stringify(rowGold(g, 'math')), r.correct);
}
