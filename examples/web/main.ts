// The example app: the whole LightReasoner loop on the embedded default pair, in a worker —
// sample → fine-tune → evaluate before/after → the report in the page — with progress bars, a
// Stop button, resume after a reload, and the adapter as a download.
// URL parameters: ?auto=1 starts at once; expert, amateur (model URLs), trainData, evalData (JSONL
// URLs), train, eval (counts), steps, save,
// threads, backend, sampleBatch, evalTokens override the job.
// For automation the body gets data-state = "running" | "done" | "error" and, when done,
// data-accuracy-before / data-accuracy-after; data-resumed-at = the problems sampling resumed after.
import {
  createWorkerEngine,
  DEFAULT_FINETUNE,
  DEFAULT_SAMPLE_SETTINGS,
  defaultProblems,
  parseEvalProblems,
  parseTrainProblems,
  type PipelineEvent,
  type RunJob,
  type RunReport,
} from 'lightreasoner-wasm';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const num = (k: string, d: number) => (params.has(k) ? Number(params.get(k)) : d);
const OUT = 'run';
const RUNNING_KEY = 'lightreasoner-example:running';

const engine = createWorkerEngine(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
let controller: AbortController | null = null;
(globalThis as { lightreasonerEngine?: unknown }).lightreasonerEngine = engine; // for automation and the console

/** The embedded default's settings (models/default/settings.json, chosen on the dev set), smaller by URL parameters. */
async function job(): Promise<RunJob> {
  // Your own pair: ?expert=URL&amateur=URL (Hugging Face directories served with Range support);
  // then the method's defaults apply instead of the embedded pair's dev-chosen settings.
  const models = new URL('models/default/', location.href).href;
  const own = params.has('expert') && params.has('amateur');
  const s = own
    ? {
        trainQuestions: 128,
        alpha: DEFAULT_SAMPLE_SETTINGS.alpha,
        beta: DEFAULT_SAMPLE_SETTINGS.beta,
        lr: DEFAULT_FINETUNE.lr,
        maxSteps: DEFAULT_FINETUNE.maxSteps,
        loraR: DEFAULT_FINETUNE.lora.r,
        loraAlpha: DEFAULT_FINETUNE.lora.alpha,
        targetModules: DEFAULT_FINETUNE.lora.targetModules,
      }
    : await (await fetch(`${models}settings.json`)).json();
  const model = (k: string, d: string) => new URL(params.get(k) ?? d, location.href).href;
  // Problems: generated (as the CLI's embedded default), or GSM8K-format JSONL at ?trainData=URL / ?evalData=URL.
  let { train, eval: evalSet } = defaultProblems(num('train', s.trainQuestions), num('eval', 1000));
  const text = async (k: string) => (await fetch(new URL(params.get(k)!, location.href))).text();
  if (params.has('trainData')) train = parseTrainProblems(await text('trainData'), { file: params.get('trainData')! }).slice(0, num('train', Infinity));
  if (params.has('evalData')) evalSet = parseEvalProblems(await text('evalData'), { file: params.get('evalData')! }).slice(0, num('eval', Infinity));
  return {
    expert: model('expert', `${models}expert`),
    amateur: model('amateur', `${models}amateur`),
    train,
    eval: evalSet,
    out: OUT,
    trainSource: params.get('trainData') ?? 'generated problems (set "sample", seed 0)',
    evalSource: params.get('evalData') ?? 'generated problems (set "eval", seed 0)',
    backend: (params.get('backend') as RunJob['backend']) ?? 'wasm',
    threads: num('threads', navigator.hardwareConcurrency || 2),
    // settings.json written before the sweep chose α has none: the sampling default then
    sample: { alpha: s.alpha ?? DEFAULT_SAMPLE_SETTINGS.alpha, beta: s.beta, ...(params.has('sampleBatch') ? { batchSize: num('sampleBatch', 8) } : {}) },
    finetune: {
      lr: s.lr,
      maxSteps: num('steps', s.maxSteps),
      saveSteps: num('save', 20),
      lora: { ...DEFAULT_FINETUNE.lora, r: s.loraR, alpha: s.loraAlpha, targetModules: s.targetModules },
    },
    evalSettings: { maxNewTokens: num('evalTokens', 160) },
    resume: true, // continues what the storage holds from an interrupted run (a reload); a finished run starts afresh
  };
}

function bar(id: string, done: number, total: number, text = `${done} / ${total}`) {
  const el = $<HTMLProgressElement>(`${id}-bar`);
  el.max = Math.max(1, total);
  el.value = done;
  $(`${id}-text`).textContent = text;
}

function onEvent(e: PipelineEvent) {
  if (e.status === 'sample' && e.event.status === 'start' && e.event.committed > 0) document.body.dataset.resumedAt = String(e.event.committed);
  if (e.status === 'sample' && (e.event.status === 'committed' || e.event.status === 'start'))
    bar('sample', e.event.status === 'start' ? e.event.committed : e.event.done, e.event.total);
  else if (e.status === 'finetune' && e.event.status === 'step')
    bar('finetune', e.event.step, e.event.maxSteps, `step ${e.event.step} / ${e.event.maxSteps}, loss ${e.event.loss.toFixed(3)}`);
  else if (e.status === 'eval' && e.event.status === 'problem') bar('eval', e.event.done, e.event.total, `${e.model}: ${e.event.done} / ${e.event.total}`);
  else if (e.status === 'stage' && e.state === 'start') $('stage').textContent = `${e.stage}${e.model ? ` (${e.model})` : ''}…`;
  else if (e.status === 'warning') $('log').textContent += `warning: ${e.message}\n`;
}

function show(report: RunReport) {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const e = report.eval;
  $('result').textContent =
    `expert before ${pct(e.expert_before.accuracy)} → after ${pct(e.expert_after.accuracy)} (fixed ${e.expert_after.paired_vs_before?.fixed}, broken ${e.expert_after.paired_vs_before?.broken}, McNemar p = ${e.expert_after.paired_vs_before?.p_value.toFixed(3)}); amateur ${pct(e.amateur.accuracy)}`;
  document.body.dataset.accuracyBefore = String(e.expert_before.accuracy);
  document.body.dataset.accuracyAfter = String(e.expert_after.accuracy);
}

async function start() {
  controller = new AbortController();
  document.body.dataset.state = 'running';
  localStorage.setItem(RUNNING_KEY, '1');
  $<HTMLButtonElement>('start').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  $('error').hidden = true;
  try {
    const info = await engine.info({ backend: 'wasm', threads: num('threads', navigator.hardwareConcurrency || 2) });
    $('info').textContent = `${info.backend.device}${info.backend.note ? ` — ${info.backend.note}` : ''}`;
    const j = await job();
    if (localStorage.getItem('lightreasoner-example:finished') === '1') {
      await engine.remove(OUT); // a finished run: start afresh rather than resume
      localStorage.removeItem('lightreasoner-example:finished');
    }
    const report = await engine.run(j, { onEvent, signal: controller.signal });
    localStorage.setItem('lightreasoner-example:finished', '1');
    localStorage.removeItem(RUNNING_KEY);
    show(report);
    const html = new TextDecoder().decode(await engine.readFile(`${OUT}/report.html`));
    $<HTMLIFrameElement>('report').srcdoc = html;
    $<HTMLButtonElement>('download').disabled = false;
    $('stage').textContent = 'done';
    document.body.dataset.state = 'done';
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'ABORTED') {
      $('stage').textContent = 'stopped — press Start (or reload) to resume';
      document.body.dataset.state = 'stopped';
    } else {
      $('error').textContent = `error: ${e.message ?? String(err)}`;
      $('error').hidden = false;
      document.body.dataset.state = 'error';
    }
  } finally {
    $<HTMLButtonElement>('start').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
  }
}

async function download() {
  const { zip } = await engine.exportAdapter(`${OUT}/adapter`);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([zip as BlobPart], { type: 'application/zip' }));
  a.download = 'lightreasoner-adapter.zip';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

$('start').addEventListener('click', () => void start());
$('stop').addEventListener('click', () => controller?.abort());
$('download').addEventListener('click', () => void download());
// ?auto=1 starts by itself; a run interrupted by a reload resumes by itself too.
if (params.get('auto') === '1' || localStorage.getItem(RUNNING_KEY) === '1') void start();
