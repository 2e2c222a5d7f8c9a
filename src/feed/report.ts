// `medetl score --html FILE`: the scorecard as one self-contained HTML page with plots (per-kind recall,
// flagged share per batch, batch medians and drift). uPlot's script and stylesheet are read from
// node_modules and inlined, so the page opens offline and nothing is fetched. Counts, shares and batch
// statistics only: no patient value, identifier or timestamp is written.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { barShare, CLEAN_FLAGGED_BAR, SCORE_BARS, type ScoreReport } from './score.js';

const require = createRequire(import.meta.url);

function asset(name: string): string {
  return readFileSync(require.resolve(`uplot/dist/${name}`), 'utf8');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON that is safe inside a <script> element. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');

export function renderReport(report: ScoreReport, opts: { title?: string; generatedAt?: string } = {}): string {
  const t = report.total;
  const kinds = t.kinds.map((k) => ({
    kind: k.kind,
    injected: k.injected,
    caught: k.caught,
    recall: k.injected ? k.caught / k.injected : null,
    bar: SCORE_BARS[k.kind] ?? null,
    ok: SCORE_BARS[k.kind] === undefined ? null : barShare(k) >= SCORE_BARS[k.kind]!,
    by: k.by,
  }));
  const runs = report.runs.map((r, i) => ({
    n: i + 1,
    run: r.card.run,
    loaded: r.loaded,
    flaggedShare: r.loaded ? r.flaggedRows / r.loaded : 0,
    cleanFlaggedShare: r.card.cleanFlaggedShare,
    medians: Object.fromEntries(r.profile.metrics.map((m) => [m.column, m.median])),
    drift: r.drift,
  }));
  const data = { kinds, runs, cleanBar: CLEAN_FLAGGED_BAR };
  const rowsKinds = kinds
    .map(
      (k) =>
        `<tr><td>${esc(k.kind)}</td><td>${k.injected}</td><td>${k.caught}</td><td>${esc(
          Object.entries(k.by).map(([h, n]) => `${h} ${n}`).join(', ') || '-',
        )}</td><td>${k.injected - k.caught}</td><td>${pct(k.caught, k.injected)}</td><td class="${k.ok === false ? 'miss' : ''}">${
          k.bar === null ? '' : `&ge; ${Math.round(k.bar * 100)}%${k.kind === 'unit_slip' ? ' converted' : ''} ${k.ok ? 'ok' : 'MISSED'}`
        }</td></tr>`,
    )
    .join('\n');
  const drift = runs.flatMap((r) => r.drift.map((d) => ({ ...d, n: r.n, run: r.run })));
  const rowsDrift = drift.length
    ? drift
        .map(
          (d) =>
            `<tr><td>${d.n}</td><td>${esc(d.run)}</td><td>${esc(d.column)}</td><td>${esc(d.statistic)}</td><td>${d.baseline.toFixed(3)}</td><td>${d.observed.toFixed(3)}</td><td class="${d.severity}">${d.severity}</td></tr>`,
        )
        .join('\n')
    : '<tr><td colspan="7">no drift recorded</td></tr>';
  const title = opts.title ?? `medetl scorecard: ${t.run}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${asset('uPlot.min.css')}</style>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child, td:nth-child(4) { text-align: left; }
.miss, .alert { color: #b00; font-weight: 600; } .warn { color: #a60; }
.note { color: #555; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="note">${esc(String(t.rows))} events rows in ${runs.length} run(s)${opts.generatedAt ? `, report made ${esc(opts.generatedAt)}` : ''}.
Counts, shares and batch statistics only; no patient value or identifier is in this page.</p>
<h2>Noise caught, per kind</h2>
<table id="scorecard"><thead><tr><th>noise kind</th><th>injected</th><th>caught</th><th>how</th><th>missed</th><th>caught %</th><th>bar</th></tr></thead>
<tbody>
${rowsKinds}
</tbody></table>
<p id="clean">Clean rows flagged: ${t.cleanFlagged} of ${t.cleanRows} (${pct(t.cleanFlagged, t.cleanRows)}; bar &le; ${CLEAN_FLAGGED_BAR * 100}%:
<span class="${t.cleanFlaggedShare <= CLEAN_FLAGGED_BAR ? '' : 'miss'}">${t.cleanFlaggedShare <= CLEAN_FLAGGED_BAR ? 'ok' : 'MISSED'}</span>)</p>
<div id="recall" class="chart"></div>
<h2>Flagged share per batch</h2>
<div id="flagged" class="chart"></div>
<h2>Batch medians and drift</h2>
<p class="note">Each batch's median per vital; a marker where the drift check recorded a departure from the rolling baseline of earlier batches.</p>
<div id="medians" class="chart"></div>
<table id="drift"><thead><tr><th>batch</th><th>run</th><th>column</th><th>statistic</th><th>baseline</th><th>observed</th><th>severity</th></tr></thead>
<tbody>
${rowsDrift}
</tbody></table>
<script>${asset('uPlot.iife.min.js')}</script>
<script>
const DATA = ${scriptJson(data)};
const W = Math.min(960, document.body.clientWidth || 960);
const idx = (n) => Array.from({ length: n }, (_, i) => i + 1);
function bars(el, labels, series, opts) {
  const x = idx(labels.length);
  new uPlot({
    width: W, height: 300, title: opts.title,
    scales: { x: { time: false, range: [0.5, labels.length + 0.5] }, y: { range: opts.y } },
    axes: [{ values: (u, ticks) => ticks.map((t) => labels[t - 1] ?? ''), rotate: -30, size: 90, space: 10 }, { label: opts.yLabel }],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, fill: s.fill, width: s.marks ? 0 : 1, paths: s.marks ? undefined : uPlot.paths.bars({ size: [0.6, 60] }), points: { show: !!s.marks, size: 10, fill: s.color } }))],
  }, [x, ...series.map((s) => s.values)], el);
}
bars(document.getElementById('recall'), DATA.kinds.map((k) => k.kind), [
  { label: 'caught %', color: '#2a6', fill: 'rgba(34,170,102,0.4)', values: DATA.kinds.map((k) => (k.recall === null ? null : 100 * k.recall)) },
  { label: 'bar %', color: '#b00', marks: true, values: DATA.kinds.map((k) => (k.bar === null ? null : 100 * k.bar)) },
], { title: 'caught per noise kind', y: [0, 100], yLabel: '%' });
const whole = { incrs: [1, 2, 5, 10, 20, 50, 100], values: (u, ticks) => ticks.map((t) => String(t)) };
new uPlot({
  width: W, height: 280, title: 'flagged rows per batch',
  scales: { x: { time: false } },
  axes: [{ label: 'batch', ...whole }, { label: '%' }],
  series: [{}, { label: 'all loaded rows flagged %', stroke: '#36c' }, { label: 'clean rows touched %', stroke: '#c63' }, { label: 'clean bar %', stroke: '#b00', dash: [4, 4], points: { show: false } }],
}, [idx(DATA.runs.length), DATA.runs.map((r) => 100 * r.flaggedShare), DATA.runs.map((r) => 100 * r.cleanFlaggedShare), DATA.runs.map(() => 100 * DATA.cleanBar)], document.getElementById('flagged'));
const vitals = ['systolic_bp', 'diastolic_bp', 'heart_rate'];
const colors = { systolic_bp: '#c33', diastolic_bp: '#36c', heart_rate: '#393' };
const marks = vitals.map((v) => DATA.runs.map((r) => (r.drift.some((d) => d.column === v) ? r.medians[v] : null)));
new uPlot({
  width: W, height: 300, title: 'batch medians (markers: drift recorded)',
  scales: { x: { time: false } },
  axes: [{ label: 'batch', ...whole }, { label: 'median' }],
  series: [{}, ...vitals.map((v) => ({ label: v, stroke: colors[v] })), ...vitals.map((v) => ({ label: v + ' drift', stroke: colors[v], width: 0, points: { show: true, size: 12, fill: colors[v] } }))],
}, [idx(DATA.runs.length), ...vitals.map((v) => DATA.runs.map((r) => r.medians[v])), ...marks], document.getElementById('medians'));
document.body.dataset.rendered = String(document.querySelectorAll('.uplot').length);
</script>
</body>
</html>
`;
}
