// What the benchmark job (runtime/engine/benchmark-job.ts) reports, here beside the evaluation's own
// events so that the run's event type (runtime/run/pipeline.ts PipelineEvent) can carry them too
// without the method layer importing the job layer.
import type { EvalEvent } from './evaluate.ts';

export type BenchmarkEvent =
  | { status: 'warning'; message: string }
  | { status: 'loading'; loaded: number; total: number }
  | { status: 'benchmark'; name: string; title: string; event: EvalEvent }
  | { status: 'written'; name: string; title: string; out: string; records: number; summary: string }
  | { status: 'table-written'; out: string };
