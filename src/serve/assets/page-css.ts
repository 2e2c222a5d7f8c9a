// The dashboard's stylesheet (served as /assets/dashboard.css; the CSP forbids inline styles).
export const PAGE_CSS = `
:root {
  --bg: #f4f6f9; --card: #fff; --ink: #1d2733; --muted: #5f6b7a; --line: #e2e7ee; --accent: #1c4e80;
  --ok: #2b8a3e; --stop: #c92a2a; --warn: #e8590c; --sup: #8a94a3;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; font-size: 14px; line-height: 1.4; }
.top { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 8px 24px;
  padding: 12px 24px; background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 5; }
.brand { display: flex; align-items: center; gap: 10px; }
h1 { font-size: 20px; margin: 0; letter-spacing: .2px; }
h1 span { font-weight: 400; color: var(--muted); }
.status { display: flex; align-items: center; gap: 8px; color: var(--muted); font-variant-numeric: tabular-nums; }
.status .dot { width: 10px; height: 10px; border-radius: 50%; background: var(--sup); }
.status[data-daemon="running"] .dot { background: var(--ok); box-shadow: 0 0 0 3px rgba(43,138,62,.18); }
.status[data-daemon="stopped"] .dot { background: var(--stop); }
.status[data-daemon="running"] #daemon-text { color: var(--ok); font-weight: 600; }
.status[data-daemon="stopped"] #daemon-text { color: var(--stop); font-weight: 600; }
.live { margin-left: 8px; padding: 1px 8px; border-radius: 10px; font-size: 12px; border: 1px solid var(--line); }
.live[data-live="open"] { color: var(--ok); border-color: rgba(43,138,62,.4); }
.live[data-live="reconnecting"], .live[data-live="connecting"] { color: var(--warn); border-color: rgba(232,89,12,.4); }
main { padding: 18px 24px 8px; max-width: 1600px; margin: 0 auto; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 14px; margin-bottom: 16px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .6px; }
.tile .value { font-size: 30px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; color: var(--accent); }
.tile .note { color: var(--muted); font-size: 12px; }
.tile[data-suppressed="true"] .value { font-size: 18px; color: var(--sup); font-weight: 500; padding: 8px 0 5px; }
.tile.flash { animation: flash 1s ease-out; }
@keyframes flash { from { background: #e7f0fb; } to { background: var(--card); } }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px 12px; min-width: 0; }
.card.wide { grid-column: 1 / -1; }
.card h2 { font-size: 15px; margin: 0 0 2px; }
.card-head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; }
.sub { margin: 0 0 8px; color: var(--muted); font-size: 12px; }
.foot { margin: 6px 0 0; color: var(--muted); font-size: 12px; min-height: 1em; }
.chart { width: 100%; min-height: 230px; position: relative; }
.chart .empty { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; color: var(--sup); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-bottom: 4px; }
.legend i { display: inline-block; width: 14px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 5px; }
.uplot { font-family: inherit; }
.u-legend { font-size: 12px; }
.table-wrap { overflow: auto; max-height: 260px; }
.table-wrap.tall { max-height: 330px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { position: sticky; top: 0; background: #f8fafc; color: var(--muted); font-weight: 600; font-size: 12px; z-index: 1; }
th:first-child, td:first-child { text-align: left; }
td.file { text-align: left; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
td.withheld { color: var(--sup); font-style: italic; }
td.suppressed { color: var(--sup); font-style: italic; font-size: 11px; white-space: normal; min-width: 64px; line-height: 1.2; }
td.suppressed[colspan] { text-align: center; }
td.empty-row { text-align: center; color: var(--sup); }
td .bar { display: block; height: 3px; margin-top: 3px; border-radius: 2px; background: var(--accent); opacity: .55; margin-left: auto; }
.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; background: #f1f3f5; border-radius: 4px; padding: 1px 5px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 8px; }
.chip { border: 1px solid var(--line); border-radius: 12px; padding: 1px 9px; font-size: 12px; }
.chip b { margin-left: 4px; }
.drift { list-style: none; padding: 0; margin: 8px 0 0; max-height: 120px; overflow: auto; font-size: 12px; }
.drift li { padding: 3px 0; border-top: 1px solid var(--line); }
.drift li.none { color: var(--muted); border: 0; }
.sev { display: inline-block; min-width: 44px; text-align: center; border-radius: 4px; padding: 0 5px; margin-right: 6px; color: #fff; font-weight: 600; }
.sev.warn { background: #f08c00; }
.sev.alert { background: #c92a2a; }
select { font: inherit; padding: 1px 4px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 10px 24px 20px; }
`;
