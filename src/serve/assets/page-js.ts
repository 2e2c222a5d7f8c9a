// The dashboard's script (served as /assets/dashboard.js; the CSP forbids inline script). Plain browser JavaScript
// kept in a string so tsc ships it with the rest (no copy step). Written without template literals or `${`, which
// the enclosing String.raw would interpolate. DOM is built with textContent only: no markup from data.
//
// Data flow: /api/series once (per-batch columns), then server-sent events from /api/events?after=<last seq>:
// each `batch` event appends one point and refetches /api/snapshot (tiles, BI cells, tables); `state` events carry
// the daemon state. EventSource reconnects by itself and sends Last-Event-ID, so nothing is lost or applied twice.
export const PAGE_JS = String.raw`(function () {
  'use strict';
  var SUPPRESSED = 'suppressed (<11)';
  var CATEGORIES = ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'];
  var CATEGORY_LABEL = { normal: 'Normal', elevated: 'Elevated', stage_1: 'Stage 1', stage_2: 'Stage 2', crisis: 'Crisis' };
  var CATEGORY_COLOR = { normal: '#2f9e44', elevated: '#f59f00', stage_1: '#f76707', stage_2: '#e03131', crisis: '#862e9c' };
  var ADULT_BANDS = ['18-39', '40-64', '65-89', '90+'];
  var ALL_BANDS = ['0-1', '2-12', '13-17', '18-39', '40-64', '65-89', '90+'];
  var VITALS = [
    { key: 'systolic_bp', label: 'Systolic (mmHg)', color: '#d9480f', fill: 'rgba(217,72,15,0.10)' },
    { key: 'diastolic_bp', label: 'Diastolic (mmHg)', color: '#1c7ed6', fill: 'rgba(28,126,214,0.10)' },
    { key: 'heart_rate', label: 'Heart rate (/min)', color: '#2b8a3e', fill: 'rgba(43,138,62,0.10)' }
  ];
  var INT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000];
  var CHART_HEIGHT = 230;

  var state = {
    snap: null,
    live: null,
    year: null,
    series: emptySeries(),
    lastSeq: 0,
    /** Batches the last snapshot does not include yet: their rows count on the tiles at once. */
    pending: [],
    lastCommitAtMs: null,
    charts: {},
    es: null,
    snapBusy: false,
    snapAgain: false,
    redrawPending: false,
    opened: false,
    pageUpdatedAtMs: null
  };

  function emptySeries() {
    return { seq: [], rowsIn: [], loaded: [], rejected: [], duplicates: [], flagged: [], clipped: [] };
  }
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function fmtInt(n) { return Number(n).toLocaleString('en-US'); }
  function fmtNum(n, d) { return Number(n).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }); }
  function fmtPct(x, d) { return (x * 100).toFixed(d === undefined ? 1 : d) + '%'; }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function fmtTime(ms) { var d = new Date(ms); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }
  function fmtDateTime(ms) {
    var d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + fmtTime(ms);
  }
  function ago(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' days ago';
  }

  // ---------------------------------------------------------------- data in
  function getJson(url) {
    return fetch(url, { cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    });
  }

  function refreshSnapshot() {
    if (state.snapBusy) { state.snapAgain = true; return; }
    state.snapBusy = true;
    getJson('/api/snapshot')
      .then(function (s) {
        state.snap = s;
        state.pending = state.pending.filter(function (b) { return b.seq > s.lastSeq; });
        if (s.live) state.live = s.live;
        if (s.lastCommitAtMs && (!state.lastCommitAtMs || s.lastCommitAtMs > state.lastCommitAtMs)) state.lastCommitAtMs = s.lastCommitAtMs;
        state.pageUpdatedAtMs = Date.now();
        renderSnapshot();
        renderStatus();
      })
      .catch(function () { setLive('reconnecting'); })
      .then(function () {
        state.snapBusy = false;
        if (state.snapAgain) { state.snapAgain = false; refreshSnapshot(); }
      });
  }

  function loadSeries() {
    return getJson('/api/series?after=0').then(function (s) {
      state.series = { seq: s.seq, rowsIn: s.rowsIn, loaded: s.loaded, rejected: s.rejected, duplicates: s.duplicates, flagged: s.flagged, clipped: s.clipped };
      state.lastSeq = s.seq.length ? s.seq[s.seq.length - 1] : 0;
      scheduleRedraw();
    });
  }

  function connect() {
    if (state.es) state.es.close();
    var es = new EventSource('/api/events?after=' + state.lastSeq);
    state.es = es;
    es.addEventListener('open', function () {
      setLive('open');
      if (state.opened) refreshSnapshot(); // back after a drop: catch up on what the events do not carry
      state.opened = true;
    });
    es.addEventListener('error', function () {
      if (es.readyState === 2) { setLive('reconnecting'); setTimeout(connect, 2000); } // refused for good: start over
      else setLive('reconnecting');
    });
    es.addEventListener('batch', function (ev) { appendBatch(JSON.parse(ev.data)); });
    es.addEventListener('state', function (ev) { applyState(JSON.parse(ev.data)); });
  }

  function appendBatch(p) {
    if (p.seq <= state.lastSeq) return; // already applied
    var s = state.series;
    s.seq.push(p.seq); s.rowsIn.push(p.rowsIn); s.loaded.push(p.loaded); s.rejected.push(p.rejected);
    s.duplicates.push(p.duplicates); s.flagged.push(p.flagged); s.clipped.push(p.clipped);
    state.lastSeq = p.seq;
    if (p.committedAtMs) state.lastCommitAtMs = p.committedAtMs;
    if (state.snap && p.seq > state.snap.lastSeq) {
      state.pending.push(p);
      renderTiles(state.snap);
    }
    renderStatus();
    scheduleRedraw();
    refreshSnapshot();
  }

  function applyState(s) {
    var before = state.live;
    state.live = s;
    renderStatus();
    if (s.lastSeq < state.lastSeq) {
      // a replaced ledger: start over from its first batch
      state.pending = [];
      loadSeries().then(refreshSnapshot);
      return;
    }
    if (!before || before.quarantined !== s.quarantined || (before.daemon && before.daemon.running) !== s.daemon.running) refreshSnapshot();
  }

  // ---------------------------------------------------------------- status line
  function setLive(v) {
    var n = $('live');
    n.setAttribute('data-live', v);
    n.textContent = v === 'open' ? 'live' : v;
  }

  function renderStatus() {
    var box = $('status');
    var live = state.live;
    var text = 'connecting\u2026';
    var mode = 'unknown';
    if (live) {
      if (live.ledger === 'unreadable') { mode = 'stopped'; text = 'Ledger unreadable'; }
      else if (live.daemon && live.daemon.running) {
        mode = 'running';
        text = 'Daemon running' + (live.daemon.since ? ' since ' + fmtDateTime(Date.parse(live.daemon.since)) : '');
      } else { mode = 'stopped'; text = 'Daemon stopped'; }
    }
    box.setAttribute('data-daemon', mode);
    $('daemon-text').textContent = text;
    $('last-update').textContent = state.lastCommitAtMs
      ? 'last batch #' + fmtInt(state.lastSeq) + ' committed ' + fmtTime(state.lastCommitAtMs) + ' (' + ago(state.lastCommitAtMs) + ')'
      : (state.lastSeq ? 'last batch #' + fmtInt(state.lastSeq) : 'no batch yet');
    if (state.pageUpdatedAtMs) box.title = 'page updated ' + fmtTime(state.pageUpdatedAtMs);
  }

  // ---------------------------------------------------------------- tiles
  function setTile(key, value, text, note) {
    var t = document.querySelector('[data-kpi="' + key + '"]');
    if (!t) return;
    var old = t.getAttribute('data-value');
    var v = t.querySelector('.value');
    if (value === null) {
      t.setAttribute('data-value', 'suppressed');
      t.setAttribute('data-suppressed', 'true');
      v.textContent = SUPPRESSED;
    } else {
      t.setAttribute('data-value', String(value));
      t.removeAttribute('data-suppressed');
      v.textContent = text;
    }
    if (note) t.querySelector('.note').textContent = note;
    if (old !== null && old !== t.getAttribute('data-value')) {
      t.classList.remove('flash');
      void t.offsetWidth;
      t.classList.add('flash');
    }
  }

  function ratioTile(key, r, hasCells, what, noun) {
    if (!hasCells) { setTile(key, 'none', '\u2013', what); return; }
    if (r.share === null) { setTile(key, null, '', what + ' \u00b7 no year with 11+ patients'); return; }
    var note = r.year + ' \u00b7 ' + fmtInt(r.numerator) + ' of ' + fmtInt(r.denominator) + ' ' + noun;
    if (r.excludedCells) note += ' \u00b7 ' + r.excludedCells + ' suppressed cell' + (r.excludedCells > 1 ? 's' : '') + ' left out';
    setTile(key, r.share.toFixed(4), fmtPct(r.share), note);
  }

  function renderTiles(s) {
    var t = s.tiles;
    // rows and batches are sums: a batch event counts at once; the snapshot that follows brings the rest
    var rows = t.rows_loaded;
    state.pending.forEach(function (b) { rows += b.loaded; });
    var batches = t.batches + state.pending.length;
    setTile('rows_loaded', rows, fmtInt(rows));
    setTile('patients', t.patients, t.patients === null ? '' : fmtInt(t.patients));
    setTile('batches', batches, fmtInt(batches));
    setTile('quarantined', t.quarantined, fmtInt(t.quarantined));
    ratioTile('hypertension_prevalence', t.hypertension_prevalence, s.bpByYear.length > 0, 'adults in stage 1, 2 or crisis', 'adults');
    ratioTile('tachycardia_share', t.tachycardia_share, s.heartRateByAgeBand.length > 0, 'heart-rate readings above the age limit', 'readings');
  }

  // ---------------------------------------------------------------- charts
  function intAxis(label) {
    return {
      label: label, stroke: '#5f6b7a', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#e2e7ee' }, incrs: INT_STEPS,
      values: function (u, splits) { return splits.map(function (v) { return Number.isInteger(v) ? String(v) : ''; }); }
    };
  }
  function valueAxis(scale, label, side, fmt) {
    var a = { scale: scale, label: label, stroke: '#5f6b7a', grid: { stroke: side === 1 ? 'transparent' : '#eef1f5' }, ticks: { stroke: '#e2e7ee' }, size: 52 };
    if (side === 1) a.side = 1;
    if (fmt) a.values = function (u, splits) { return splits.map(fmt); };
    return a;
  }
  /** x from the first to the last point, half a step of margin (uPlot widens a single point's range by itself). */
  function padRange(u) {
    var xs = u.data[0];
    if (!xs || !xs.length) return [0, 1];
    return [xs[0] - 0.5, xs[xs.length - 1] + 0.5];
  }

  function placeholder(box, text) {
    var e = box.querySelector('.empty');
    if (text) {
      if (!e) { e = el('div', 'empty'); box.appendChild(e); }
      e.textContent = text;
    } else if (e) box.removeChild(e);
  }

  function chart(id, make, data) {
    var box = $(id);
    var c = state.charts[id];
    if (!c) {
      var opts = make();
      opts.width = Math.max(320, box.clientWidth);
      opts.height = CHART_HEIGHT;
      c = state.charts[id] = new uPlot(opts, data, box);
      var pending = false;
      new ResizeObserver(function () {
        if (pending) return;
        pending = true;
        requestAnimationFrame(function () {
          pending = false;
          var w = box.clientWidth;
          if (w && Math.abs(w - c.width) > 2) c.setSize({ width: w, height: CHART_HEIGHT });
        });
      }).observe(box);
    } else {
      c.setData(data);
    }
    return c;
  }

  function legend(id, items) {
    var box = $(id);
    clear(box);
    items.forEach(function (it) {
      var s = el('span');
      var sw = el('i');
      sw.style.background = it.color;
      s.appendChild(sw);
      s.appendChild(document.createTextNode(it.label));
      box.appendChild(s);
    });
  }

  function renderVitals(rows) {
    var years = yearRange(rows);
    var box = $('chart-vitals');
    placeholder(box, years.length ? '' : 'No readings yet');
    var data = [years];
    var suppressed = [];
    VITALS.forEach(function (v) {
      var p10 = [], med = [], p90 = [];
      years.forEach(function (y) {
        var r = rows.find(function (x) { return x.year === y && x.vital === v.key; });
        p10.push(r ? r.p10 : null); med.push(r ? r.median : null); p90.push(r ? r.p90 : null);
        if (r && r.median === null && suppressed.indexOf(y) < 0) suppressed.push(y);
      });
      data.push(p90, med, p10);
    });
    if (years.length) {
      chart('chart-vitals', function () {
        var series = [{ label: 'Year' }];
        var bands = [];
        VITALS.forEach(function (v, i) {
          var base = 1 + i * 3;
          series.push({ label: v.label + ' p90', scale: 'v', stroke: v.color, alpha: 0.5, width: 1, dash: [3, 4], points: { show: false } });
          series.push({ label: v.label + ' median', scale: 'v', stroke: v.color, width: 2.5, points: { show: true, size: 6, fill: v.color } });
          series.push({ label: v.label + ' p10', scale: 'v', stroke: v.color, alpha: 0.5, width: 1, dash: [3, 4], points: { show: false } });
          bands.push({ series: [base, base + 2], fill: v.fill });
        });
        return {
          legend: { show: false },
          scales: { x: { time: false, range: padRange }, v: { auto: true } },
          axes: [intAxis(), valueAxis('v', 'mmHg \u00b7 beats/min', 3)],
          series: series,
          bands: bands
        };
      }, data);
    }
    legend('legend-vitals', VITALS.map(function (v) { return { label: v.label, color: v.color }; }));
    suppressed.sort();
    $('foot-vitals').textContent = suppressed.length ? SUPPRESSED + ', not drawn: ' + suppressed.join(', ') : '';
  }

  function uniqueYears(rows) {
    var ys = [];
    rows.forEach(function (r) { if (ys.indexOf(r.year) < 0) ys.push(r.year); });
    return ys.sort(function (a, b) { return a - b; });
  }
  /** Every year from the first to the last, so a line never bridges a year without data. */
  function yearRange(rows) {
    var ys = uniqueYears(rows);
    var out = [];
    if (ys.length) for (var y = ys[0]; y <= ys[ys.length - 1]; y++) out.push(y);
    return out;
  }

  function renderBp(cells) {
    var years = yearRange(cells);
    placeholder($('chart-bp'), years.length ? '' : 'No adult blood-pressure readings yet');
    var data = [years];
    var suppressed = [];
    CATEGORIES.forEach(function () { data.push([]); });
    years.forEach(function (y) {
      var ofYear = cells.filter(function (c) { return c.year === y; });
      CATEGORIES.forEach(function (cat, i) {
        var c = ofYear.find(function (x) { return x.category === cat; });
        if (c && c.patients === null) suppressed.push(y + ' ' + CATEGORY_LABEL[cat].toLowerCase());
        // no row: nobody in that category (0), unless the year has no rows at all; null: suppressed (a gap)
        data[i + 1].push(!c ? (ofYear.length ? 0 : null) : c.patients);
      });
    });
    if (years.length) {
      chart('chart-bp', function () {
        return {
          legend: { show: false },
          scales: { x: { time: false, range: padRange }, n: { range: function (u, min, max) { return [0, Math.max(10, max) * 1.1]; } } },
          axes: [intAxis(), valueAxis('n', 'adult patients', 3, function (v) { return fmtInt(v); })],
          series: [{ label: 'Year' }].concat(CATEGORIES.map(function (cat) {
            return { label: CATEGORY_LABEL[cat], scale: 'n', stroke: CATEGORY_COLOR[cat], width: 2, points: { show: true, size: 6, fill: CATEGORY_COLOR[cat] } };
          }))
        };
      }, data);
    }
    legend('legend-bp', CATEGORIES.map(function (c) { return { label: CATEGORY_LABEL[c], color: CATEGORY_COLOR[c] }; }));
    var foot = suppressed.length > 8 ? suppressed.slice(0, 8).join(', ') + ' and ' + (suppressed.length - 8) + ' more' : suppressed.join(', ');
    $('foot-bp').textContent = suppressed.length ? SUPPRESSED + ', not drawn: ' + foot : '';
  }

  function scheduleRedraw() {
    if (state.redrawPending) return;
    state.redrawPending = true;
    requestAnimationFrame(function () {
      state.redrawPending = false;
      drawBatchCharts();
    });
  }

  function rate(num, den) {
    var out = new Array(num.length);
    for (var i = 0; i < num.length; i++) out[i] = den[i] > 0 ? (100 * num[i]) / den[i] : null;
    return out;
  }

  function drawBatchCharts() {
    var s = state.series;
    var none = s.seq.length ? '' : 'No batches yet';
    placeholder($('chart-rows'), none);
    placeholder($('chart-qc'), none);
    if (!s.seq.length) return;
    chart('chart-rows', function () {
      return {
        scales: { x: { time: false, range: padRange }, rows: { auto: true, range: function (u, min, max) { return [0, Math.max(1, max) * 1.08]; } } },
        axes: [intAxis('batch'), valueAxis('rows', 'rows', 3, function (v) { return fmtInt(v); })],
        series: [
          { label: 'Batch', value: function (u, v) { return v === null ? '\u2013' : '#' + v; } },
          { label: 'Loaded', scale: 'rows', stroke: '#1c7ed6', fill: 'rgba(28,126,214,0.10)', width: 2 },
          { label: 'Rejected', scale: 'rows', stroke: '#e03131', width: 1.5 },
          { label: 'Duplicates', scale: 'rows', stroke: '#868e96', width: 1.5 }
        ]
      };
    }, [s.seq, s.loaded, s.rejected, s.duplicates]);
    chart('chart-qc', function () {
      var pct = function (u, v) { return v === null ? '\u2013' : v.toFixed(2) + '%'; };
      return {
        scales: { x: { time: false, range: padRange }, pct: { auto: true, range: function (u, min, max) { return [0, Math.max(1, max) * 1.15]; } } },
        axes: [intAxis('batch'), valueAxis('pct', '% of rows', 3, function (v) { return v + '%'; })],
        series: [
          { label: 'Batch', value: function (u, v) { return v === null ? '\u2013' : '#' + v; } },
          { label: 'Flag rate', scale: 'pct', stroke: '#f08c00', width: 2, value: pct },
          { label: 'Reject rate', scale: 'pct', stroke: '#e03131', width: 2, value: pct },
          { label: 'Clip rate', scale: 'pct', stroke: '#7048e8', width: 2, value: pct }
        ]
      };
    }, [s.seq, rate(s.flagged, s.loaded), rate(s.rejected, s.rowsIn), rate(s.clipped, s.loaded)]);
  }

  // ---------------------------------------------------------------- tables
  function row(cells, tag) {
    var tr = el('tr');
    cells.forEach(function (c) {
      var td = typeof c === 'object' && c !== null && c.nodeType ? c : el(tag || 'td', null, c);
      tr.appendChild(td);
    });
    return tr;
  }
  function head(table, labels) {
    var thead = el('thead');
    thead.appendChild(row(labels, 'th'));
    table.appendChild(thead);
    var tb = el('tbody');
    table.appendChild(tb);
    return tb;
  }
  function supTd(span) {
    var td = el('td', 'suppressed', SUPPRESSED);
    if (span) td.colSpan = span;
    return td;
  }
  function emptyRow(tb, span, text) {
    var td = el('td', 'empty-row', text);
    td.colSpan = span;
    tb.appendChild(row([td]));
  }

  function renderYearSelect(s) {
    var sel = $('year');
    var years = uniqueYears(s.bpByYearAgeBand.concat(s.heartRateByAgeBand)).reverse();
    if (state.year === null || years.indexOf(state.year) < 0) state.year = years.length ? years[0] : null;
    clear(sel);
    years.forEach(function (y) {
      var o = el('option', null, y);
      o.value = String(y);
      if (y === state.year) o.selected = true;
      sel.appendChild(o);
    });
  }

  function renderBpBand(cells) {
    var table = $('bp-band');
    clear(table);
    var tb = head(table, ['Age band'].concat(CATEGORIES.map(function (c) { return CATEGORY_LABEL[c]; })));
    var ofYear = cells.filter(function (c) { return c.year === state.year; });
    var bands = ADULT_BANDS.filter(function (b) { return ofYear.some(function (c) { return c.ageBand === b; }); });
    if (!bands.length) { emptyRow(tb, 6, 'No adult blood-pressure readings for this year'); return; }
    bands.forEach(function (b) {
      var ofBand = ofYear.filter(function (c) { return c.ageBand === b; });
      var den = 0;
      ofBand.forEach(function (c) { if (c.patients !== null) den += c.patients; });
      var tds = [el('td', null, b)];
      CATEGORIES.forEach(function (cat) {
        var c = ofBand.find(function (x) { return x.category === cat; });
        var td;
        if (!c) td = el('td', null, '\u2013');
        else if (c.patients === null) td = supTd();
        else {
          td = el('td', null, fmtInt(c.patients));
          var bar = el('span', 'bar');
          bar.style.width = (den ? Math.round((100 * c.patients) / den) : 0) + '%';
          bar.style.background = CATEGORY_COLOR[cat];
          td.appendChild(bar);
          td.title = den ? fmtPct(c.patients / den) + ' of published patients in this band' : '';
        }
        td.setAttribute('data-cell', state.year + '|' + b + '|' + cat);
        tds.push(td);
      });
      tb.appendChild(row(tds));
    });
  }

  function renderHrBand(cells) {
    var table = $('hr-band');
    clear(table);
    var tb = head(table, ['Age band', 'Patients', 'Readings', 'Mean HR', 'Tachycardia']);
    var ofYear = cells.filter(function (c) { return c.year === state.year; });
    ofYear.sort(function (a, b) { return ALL_BANDS.indexOf(a.ageBand) - ALL_BANDS.indexOf(b.ageBand); });
    if (!ofYear.length) { emptyRow(tb, 5, 'No heart-rate readings for this year'); return; }
    ofYear.forEach(function (c) {
      var first = el('td', null, c.ageBand);
      if (c.patients === null) { tb.appendChild(row([first, supTd(4)])); return; }
      tb.appendChild(row([
        first, fmtInt(c.patients), fmtInt(c.readings), c.meanHeartRate === null ? '\u2013' : fmtNum(c.meanHeartRate, 1) + '/min',
        c.readings ? fmtPct(c.tachycardiaReadings / c.readings) : '\u2013'
      ]));
    });
  }

  function fileTd(name) {
    var td = el('td', 'file', name);
    if (name.charAt(0) === '(') td.className = 'file withheld';
    return td;
  }

  function renderBatches(list) {
    var table = $('batches');
    clear(table);
    var tb = head(table, ['#', 'File', 'Committed', 'Rows in', 'Loaded', 'Rejected', 'Dup.', 'Flagged', 'Clipped']);
    if (!list.length) { emptyRow(tb, 9, 'No batches yet'); return; }
    list.forEach(function (b) {
      var tr = row([
        '#' + b.seq, fileTd(b.file), b.committedAtMs ? fmtDateTime(b.committedAtMs) : '\u2013', fmtInt(b.rowsIn), fmtInt(b.loaded),
        fmtInt(b.rejected), fmtInt(b.duplicates), fmtInt(b.flagged), fmtInt(b.clipped)
      ]);
      tr.setAttribute('data-seq', String(b.seq));
      tb.appendChild(tr);
    });
  }

  function renderQuarantine(s) {
    var chips = $('reasons');
    clear(chips);
    Object.keys(s.quarantinedByReason).sort().forEach(function (k) {
      var c = el('span', 'chip');
      c.appendChild(el('span', 'code', k));
      c.appendChild(el('b', null, fmtInt(s.quarantinedByReason[k])));
      chips.appendChild(c);
    });
    var table = $('quarantine');
    clear(table);
    var tb = head(table, ['When', 'File', 'Reason']);
    if (!s.quarantinedFiles.length) { emptyRow(tb, 3, 'Nothing quarantined'); return; }
    s.quarantinedFiles.forEach(function (q) {
      var reason = el('td');
      reason.appendChild(el('span', 'code', q.reasonCode));
      tb.appendChild(row([q.atMs ? fmtDateTime(q.atMs) : '\u2013', fileTd(q.file), reason]));
    });
  }

  function renderDrift(list) {
    var ul = $('drift');
    clear(ul);
    if (!list.length) { ul.appendChild(el('li', 'none', 'No drift warnings.')); return; }
    list.slice(0, 20).forEach(function (d) {
      var li = el('li');
      li.appendChild(el('span', 'sev ' + d.severity, d.severity));
      var pct = d.statistic.indexOf('share') >= 0 || d.statistic.indexOf('rate') >= 0;
      var f = function (v) { return pct ? fmtPct(v, 2) : fmtNum(v, 1); };
      li.appendChild(document.createTextNode(
        (d.seq ? 'batch #' + d.seq : 'batch ' + d.batchId) + ': ' + d.column + ' ' + d.statistic.replace(/_/g, ' ') + ' ' + f(d.observed) + ' (baseline ' + f(d.baseline) + ')'
      ));
      ul.appendChild(li);
    });
  }

  function renderSnapshot() {
    var s = state.snap;
    if (!s) return;
    renderTiles(s);
    renderVitals(s.vitalsByYear);
    renderBp(s.bpByYear);
    renderYearSelect(s);
    renderBpBand(s.bpByYearAgeBand);
    renderHrBand(s.heartRateByAgeBand);
    renderBatches(s.recentBatches);
    renderQuarantine(s);
    renderDrift(s.drift);
  }

  $('year').addEventListener('change', function (ev) {
    state.year = Number(ev.target.value);
    if (state.snap) { renderBpBand(state.snap.bpByYearAgeBand); renderHrBand(state.snap.heartRateByAgeBand); }
  });

  function start() {
    loadSeries().then(connect, function () { setLive('reconnecting'); setTimeout(start, 2000); });
  }
  renderStatus();
  refreshSnapshot();
  start();
  setInterval(renderStatus, 1000);
})();
`;
