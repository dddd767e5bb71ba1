// Small text helpers shared by the report page's modules (report.ts, report-stats.ts).

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
export const int = (n: number) => Math.round(n).toLocaleString('en-US');
