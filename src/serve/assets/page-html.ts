// The dashboard's HTML: structure only. No inline script or style (the CSP forbids both); dashboard.js fills it.
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>medetl dashboard</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/uPlot.min.css">
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/uPlot.iife.min.js" defer></script>
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand"><img src="/assets/favicon.svg" alt="" width="28" height="28"><h1>medetl <span>dashboard</span></h1></div>
  <div id="status" class="status" data-daemon="unknown" role="status" aria-live="polite">
    <span class="dot" aria-hidden="true"></span>
    <span id="daemon-text">connecting&hellip;</span>
    <span class="sep" aria-hidden="true">&middot;</span>
    <span id="last-update">no batch yet</span>
    <span id="live" class="live" data-live="connecting">connecting</span>
  </div>
</header>
<main>
  <section class="tiles" aria-label="Key figures">
    <div class="tile" data-kpi="rows_loaded"><div class="label">Rows loaded</div><div class="value">&ndash;</div><div class="note">masked readings in the store</div></div>
    <div class="tile" data-kpi="patients"><div class="label">Patients</div><div class="value">&ndash;</div><div class="note">distinct pseudonymous patients</div></div>
    <div class="tile" data-kpi="batches"><div class="label">Batches</div><div class="value">&ndash;</div><div class="note">files committed exactly once</div></div>
    <div class="tile" data-kpi="quarantined"><div class="label">Quarantined</div><div class="value">&ndash;</div><div class="note">files set aside, ever</div></div>
    <div class="tile" data-kpi="hypertension_prevalence"><div class="label">Hypertension prevalence</div><div class="value">&ndash;</div><div class="note">adults in stage 1, 2 or crisis</div></div>
    <div class="tile" data-kpi="tachycardia_share"><div class="label">Tachycardia share</div><div class="value">&ndash;</div><div class="note">heart-rate readings above the age limit</div></div>
  </section>
  <section class="grid">
    <article class="card">
      <h2>Vitals by year</h2>
      <p class="sub">Median per year (solid) between the 10th and 90th percentiles (dashed, shaded); flagged and clipped values left out.</p>
      <div class="legend" id="legend-vitals"></div>
      <div class="chart" id="chart-vitals"></div>
      <p class="foot" id="foot-vitals"></p>
    </article>
    <article class="card">
      <h2>Blood pressure categories by year</h2>
      <p class="sub">Adult patients per ACC/AHA 2017 category, each counted once a year in their highest category.</p>
      <div class="legend" id="legend-bp"></div>
      <div class="chart" id="chart-bp"></div>
      <p class="foot" id="foot-bp"></p>
    </article>
    <article class="card">
      <h2>Rows per batch</h2>
      <p class="sub">Loaded, rejected and duplicate rows of each committed batch (x: batch number).</p>
      <div class="chart" id="chart-rows"></div>
    </article>
    <article class="card">
      <h2>QC monitoring</h2>
      <p class="sub">Flag, reject and clip rates per batch, and drift from the rolling baseline.</p>
      <div class="chart" id="chart-qc"></div>
      <ul class="drift" id="drift"></ul>
    </article>
    <article class="card">
      <div class="card-head"><h2>Blood pressure by age band</h2><label class="year">year <select id="year"></select></label></div>
      <p class="sub">Adult patients per category in the chosen year.</p>
      <div class="table-wrap"><table id="bp-band" class="cells"></table></div>
    </article>
    <article class="card">
      <h2>Heart rate by age band</h2>
      <p class="sub">Tachycardia: above 160/min under 2, above 120/min at 2&ndash;12, above 100/min from 13.</p>
      <div class="table-wrap"><table id="hr-band" class="cells"></table></div>
    </article>
    <article class="card wide">
      <h2>Recent batches</h2>
      <div class="table-wrap tall"><table id="batches" class="rows"></table></div>
    </article>
    <article class="card wide">
      <h2>Quarantined files</h2>
      <div class="chips" id="reasons"></div>
      <div class="table-wrap tall"><table id="quarantine" class="rows"></table></div>
    </article>
  </section>
</main>
<footer>Only masked, aggregated data is shown. Cells describing fewer than 11 patients are suppressed. File names are shown only when they are timestamps and sequence numbers.</footer>
</body>
</html>
`;

export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1c4e80"/><path d="M4 17h6l3-7 4 13 3-8 2 2h6" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>
`;
