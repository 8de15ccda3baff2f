// The wis2mon dashboard: polls the monitor's /api/ endpoints and draws what they say. Plain
// JavaScript, no library, nothing fetched from another host. ?refresh=<ms> sets the polling
// interval (default 5000 ms).
'use strict';
(() => {
  const params = new URLSearchParams(location.search);
  const refreshMs = Math.max(200, Number(params.get('refresh')) || 5000);
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en'));
  const pct = (part, whole) => (whole > 0 ? ((100 * part) / whole).toFixed(1) + '%' : '');
  // What the page did, for whoever watches it (the browser test reads it).
  const info = (window.wis2mon = { refreshes: 0, lastRefreshMs: 0, lastError: '', stationsDrawn: 0, lastHoverMs: 0 });

  async function getJson(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  // Replaces a table's rows: `cells(item)` gives [text or {text, cls}] per column.
  function fillTable(id, items, cells, rowAttrs) {
    const body = $(id).tBodies[0];
    const frag = document.createDocumentFragment();
    for (const item of items) {
      const tr = document.createElement('tr');
      if (rowAttrs) for (const [k, v] of Object.entries(rowAttrs(item))) tr.setAttribute(k, v);
      for (const c of cells(item)) {
        const td = document.createElement('td');
        const cell = typeof c === 'object' && c !== null ? c : { text: c };
        td.textContent = cell.text === undefined || cell.text === null ? '' : String(cell.text);
        if (cell.cls) td.className = cell.cls;
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
  }

  const shortTime = (iso) => (iso ? iso.replace('T', ' ').replace('Z', '') : '');

  // ---- totals, brokers, sinks -------------------------------------------------------------
  function renderSummary(summary, sinks) {
    const t = summary.totals;
    $('total-received').textContent = fmt(t.received);
    $('total-valid').textContent = fmt(t.valid);
    $('total-invalid').textContent = fmt(t.invalid);
    $('total-duplicates').textContent = fmt(t.duplicates);
    $('share-valid').textContent = pct(t.valid, t.received);
    $('share-invalid').textContent = pct(t.invalid, t.received);
    $('share-duplicates').textContent = pct(t.duplicates, t.received);
    $('total-downloads').textContent = fmt(t.downloads);
    $('total-download-failures').textContent = fmt(t.download_failures);
    $('total-records').textContent = fmt(t.records);
    $('spool-depth').textContent = fmt(sinks.spool.stored);
    $('dead-letter-count').textContent = fmt(sinks.dead_letters);
    fillTable('brokers', summary.brokers, (b) => [
      b.name,
      { text: b.connected ? 'up' : 'down' + (b.last_error ? ': ' + b.last_error : ''), cls: b.connected ? 'up' : 'down' },
      { text: fmt(b.messages), cls: 'num' },
      { text: fmt(b.connection_losses), cls: 'num' },
      b.subscriptions.join(' '),
    ]);
    fillTable('sinks', sinks.sinks, (s) => [
      s.name,
      { text: s.healthy ? 'healthy' : 'failing: ' + s.reason, cls: s.healthy ? 'up' : 'down' },
      { text: fmt(s.delivered), cls: 'num' },
      { text: fmt(s.queued), cls: 'num' },
      { text: fmt(s.rejected + s.out_of_retries), cls: 'num' },
    ]);
  }

  // ---- centres: the table and the chart ---------------------------------------------------
  let centreData = [];
  function renderCentres() {
    const needle = $('centre-filter').value.trim().toLowerCase();
    const rows = centreData.filter((c) => !needle || c.centre_id.toLowerCase().includes(needle));
    $('centre-count').textContent = fmt(centreData.length);
    fillTable(
      'centres',
      rows,
      (c) => [
        c.centre_id,
        { text: fmt(c.received), cls: 'num received' },
        { text: fmt(c.valid), cls: 'num valid' },
        { text: fmt(c.invalid), cls: 'num invalid' },
        { text: fmt(c.duplicates), cls: 'num duplicates' },
        { text: (c.per_minute[c.per_minute.length - 1] / 60).toFixed(2), cls: 'num' },
        shortTime(c.last_message),
      ],
      (c) => ({ 'data-centre': c.centre_id }),
    );
  }
  $('centre-filter').addEventListener('input', renderCentres);

  const palette = ['#17324d', '#2e86c1', '#e67e22', '#27ae60', '#8e44ad', '#c0392b'];
  function sizeCanvas(canvas, cssHeight) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 800;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(cssHeight * ratio);
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { g, width, height: cssHeight };
  }

  function renderChart(data) {
    const { g, width, height } = sizeCanvas($('rate-chart'), 220);
    const minutes = data.minutes;
    const total = new Array(minutes).fill(0);
    for (const c of data.centres) c.per_minute.forEach((n, i) => (total[i] += n));
    // The busiest centres of the hour get their own line.
    const top = [...data.centres]
      .map((c) => ({ id: c.centre_id, sum: c.per_minute.reduce((a, b) => a + b, 0), series: c.per_minute }))
      .filter((c) => c.sum > 0)
      .sort((a, b) => b.sum - a.sum)
      .slice(0, palette.length - 1);
    const lines = [{ id: 'all centres', series: total }, ...top];
    const max = Math.max(1, ...total) / 60;
    const left = 48, bottom = 20, plotW = width - left - 8, plotH = height - bottom - 8;
    g.clearRect(0, 0, width, height);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#6b7a89';
    g.strokeStyle = '#d9e0e6';
    for (let k = 0; k <= 4; k++) {
      const y = 8 + plotH - (k / 4) * plotH;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(left + plotW, y);
      g.stroke();
      g.fillText(((k / 4) * max).toFixed(max < 4 ? 2 : 0), 4, y + 4);
    }
    for (const m of [60, 45, 30, 15, 0]) g.fillText(m ? '-' + m + ' min' : 'now', left + plotW * (1 - m / 60) - 16, height - 4);
    lines.forEach((line, i) => {
      g.strokeStyle = palette[i % palette.length];
      g.lineWidth = i === 0 ? 2 : 1.2;
      g.beginPath();
      line.series.forEach((n, k) => {
        const x = left + (k / (minutes - 1)) * plotW;
        const y = 8 + plotH - (n / 60 / max) * plotH;
        k ? g.lineTo(x, y) : g.moveTo(x, y);
      });
      g.stroke();
    });
    const legend = $('chart-legend');
    legend.replaceChildren(
      ...lines.map((l, i) => {
        const s = document.createElement('span');
        s.style.color = palette[i % palette.length];
        s.textContent = '■ ' + l.id + '  ';
        return s;
      }),
    );
  }

  // ---- the map ----------------------------------------------------------------------------
  const map = { stations: [], alerts: [], grid: new Map(), width: 1000, height: 500, cell: 8 };
  const project = (lat, lon) => [((lon + 180) / 360) * map.width, ((90 - lat) / 180) * map.height];

  // Blue to red through white-ish yellow, t in [0, 1].
  function ramp(t) {
    const c = Math.max(0, Math.min(1, t));
    const r = Math.round(c < 0.5 ? 40 + c * 2 * 215 : 255);
    const gr = Math.round(c < 0.5 ? 90 + c * 2 * 140 : 230 - (c - 0.5) * 2 * 200);
    const b = Math.round(c < 0.5 ? 220 - c * 2 * 120 : 100 - (c - 0.5) * 2 * 80);
    return `rgb(${r},${gr},${b})`;
  }
  const units = {
    air_temperature: (v) => (v - 273.15).toFixed(1) + ' °C',
    dewpoint_temperature: (v) => (v - 273.15).toFixed(1) + ' °C',
    msl_pressure: (v) => (v / 100).toFixed(1) + ' hPa',
    station_pressure: (v) => (v / 100).toFixed(1) + ' hPa',
    wind_speed: (v) => v.toFixed(1) + ' m/s',
    wind_gust: (v) => v.toFixed(1) + ' m/s',
    wind_direction: (v) => v.toFixed(0) + '°',
    relative_humidity: (v) => v.toFixed(0) + ' %',
    visibility: (v) => v.toFixed(0) + ' m',
    precipitation: (v) => v.toFixed(1) + ' mm',
  };
  const showValue = (field, v) => (units[field] ? units[field](v) : String(v));

  function stationColour(s, by, lo, hi) {
    if (by === 'availability') return s.age_s < 3 * 3600 ? '#1e8449' : s.age_s < 24 * 3600 ? '#d68910' : '#c0392b';
    const v = s.values[by];
    if (v === undefined) return '#9aa5b1';
    return ramp(hi > lo ? (v - lo) / (hi - lo) : 0.5);
  }

  function drawMap() {
    const canvas = $('map');
    const ratio = window.devicePixelRatio || 1;
    map.width = canvas.clientWidth || 1000;
    map.height = Math.round(map.width / 2);
    canvas.width = Math.round(map.width * ratio);
    canvas.height = Math.round(map.height * ratio);
    canvas.style.height = map.height + 'px';
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.fillStyle = '#dbe9f4';
    g.fillRect(0, 0, map.width, map.height);
    // The graticule: every 30 degrees, the equator and the prime meridian stronger.
    for (let lon = -180; lon <= 180; lon += 30) {
      g.strokeStyle = lon === 0 ? '#8fa9bf' : '#b8ccdc';
      const [x] = project(0, lon);
      g.beginPath();
      g.moveTo(x, 0);
      g.lineTo(x, map.height);
      g.stroke();
    }
    for (let lat = -60; lat <= 60; lat += 30) {
      g.strokeStyle = lat === 0 ? '#8fa9bf' : '#b8ccdc';
      const [, y] = project(lat, 0);
      g.beginPath();
      g.moveTo(0, y);
      g.lineTo(map.width, y);
      g.stroke();
    }
    // Alert areas under the stations.
    for (const a of map.alerts)
      for (const area of a.areas) {
        g.fillStyle = 'rgba(192, 57, 43, 0.22)';
        g.strokeStyle = 'rgba(192, 57, 43, 0.9)';
        for (const ring of area.polygons) {
          g.beginPath();
          ring.forEach(([lat, lon], k) => {
            const [x, y] = project(lat, lon);
            k ? g.lineTo(x, y) : g.moveTo(x, y);
          });
          g.closePath();
          g.fill();
          g.stroke();
        }
        for (const c of area.circles) {
          const [x, y] = project(c.lat, c.lon);
          const r = Math.max(2, (c.radius_km / 111.2 / 360) * map.width);
          g.beginPath();
          g.arc(x, y, r, 0, 2 * Math.PI);
          g.fill();
          g.stroke();
        }
      }
    const by = $('colour-by').value;
    let lo = Infinity, hi = -Infinity;
    if (by !== 'availability')
      for (const s of map.stations) {
        const v = s.values[by];
        if (v !== undefined) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
      }
    $('map-scale').textContent =
      by === 'availability'
        ? 'green: reported in the last 3 h, amber: in the last 24 h, red: older'
        : lo <= hi
          ? 'blue ' + showValue(by, lo) + ' … red ' + showValue(by, hi) + '; grey: not reported'
          : 'no station reports this field';
    // Stations, and a grid of them by screen cell for the hover lookup.
    map.grid = new Map();
    let drawn = 0;
    for (const s of map.stations) {
      const [x, y] = project(s.lat, s.lon);
      g.fillStyle = stationColour(s, by, lo, hi);
      g.fillRect(x - 2.5, y - 2.5, 5, 5);
      const key = Math.floor(x / map.cell) + ',' + Math.floor(y / map.cell);
      if (!map.grid.has(key)) map.grid.set(key, []);
      map.grid.get(key).push([x, y, s]);
      drawn++;
    }
    info.stationsDrawn = drawn;
    canvas.dataset.stations = String(drawn);
  }

  function nearestStation(x, y) {
    let best = null, bestD = 7 * 7;
    const cx = Math.floor(x / map.cell), cy = Math.floor(y / map.cell);
    for (let i = cx - 1; i <= cx + 1; i++)
      for (let j = cy - 1; j <= cy + 1; j++)
        for (const [sx, sy, s] of map.grid.get(i + ',' + j) || []) {
          const d = (sx - x) ** 2 + (sy - y) ** 2;
          if (d < bestD) (bestD = d), (best = s);
        }
    return best;
  }

  function alertsAt(lat, lon) {
    const inside = (ring) => {
      let hit = false;
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [ai, oi] = ring[i], [aj, oj] = ring[j];
        if (oi > lon !== oj > lon && lat < ((aj - ai) * (lon - oi)) / (oj - oi) + ai) hit = !hit;
      }
      return hit;
    };
    return map.alerts.filter((a) =>
      a.areas.some(
        (area) =>
          area.polygons.some(inside) ||
          area.circles.some((c) => Math.hypot(c.lat - lat, (c.lon - lon) * Math.cos((lat * Math.PI) / 180)) * 111.2 <= c.radius_km),
      ),
    );
  }

  $('map').addEventListener('mousemove', (ev) => {
    const t0 = performance.now();
    const rect = ev.target.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const lat = 90 - (y / map.height) * 180, lon = (x / map.width) * 360 - 180;
    const s = nearestStation(x, y);
    const lines = [];
    if (s) {
      lines.push((s.name ? s.name + ' ' : '') + s.id, 'centre ' + s.centre_id, 'observed ' + shortTime(s.observed_at));
      for (const [field, v] of Object.entries(s.values)) lines.push(field.replace(/_/g, ' ') + ': ' + showValue(field, v));
    }
    for (const a of alertsAt(lat, lon)) lines.push('⚠ ' + (a.event || a.headline) + ' (' + a.severity + ')');
    const tip = $('map-tip');
    if (!lines.length) {
      tip.hidden = true;
    } else {
      tip.textContent = lines.join('\n');
      tip.hidden = false;
      tip.style.left = Math.min(x + 12, map.width - 200) + 'px';
      tip.style.top = y + 12 + 'px';
    }
    info.lastHoverMs = performance.now() - t0;
  });
  $('map').addEventListener('mouseleave', () => ($('map-tip').hidden = true));
  $('colour-by').addEventListener('change', drawMap);

  // ---- lists ----------------------------------------------------------------------------------
  function renderLists(invalid, downloads, dead, alerts) {
    fillTable('invalid', invalid.invalid.slice(0, 20), (i) => [shortTime(i.at), i.centre_id, { text: i.reason, cls: 'reason' }]);
    fillTable('downloads', downloads.servers, (s) => [
      s.server,
      { text: fmt(s.downloads), cls: 'num' },
      { text: fmt(s.failures), cls: 'num' },
      { text: s.last_error, cls: 'reason' },
    ]);
    fillTable('dead-letters', dead.dead_letters.slice(-20).reverse(), (d) => [
      shortTime(d.failed_at),
      d.sink,
      { text: d.reason, cls: 'reason' },
    ]);
    fillTable('alerts', alerts.alerts, (a) => [
      a.event || a.headline,
      { text: a.severity, cls: 'sev-' + a.severity },
      a.areas.map((ar) => ar.desc).join('; '),
      shortTime(a.expires),
    ]);
    $('alert-count').textContent = fmt(alerts.alerts.length);
  }

  function renderSensorCentre(sc) {
    const on = sc.roles.global_brokers || sc.roles.global_caches || sc.roles.availability;
    $('sensor-centre').hidden = !on;
    if (!on) return;
    const box = $('sensor-figures');
    const frag = document.createDocumentFragment();
    for (const [name, series] of Object.entries(sc.figures)) {
      const h = document.createElement('h3');
      h.textContent = name;
      frag.appendChild(h);
      const table = document.createElement('table');
      for (const s of series.slice(0, 50)) {
        const tr = table.insertRow();
        tr.insertCell().textContent = Object.entries(s.labels).map(([k, v]) => k + '=' + v).join(', ');
        const td = tr.insertCell();
        td.textContent = fmt(s.value);
        td.className = 'num';
      }
      frag.appendChild(table);
    }
    box.replaceChildren(frag);
    fillTable('findings', sc.findings, (f) => [f.rule, f.subject, f.centre_id, f.severity, shortTime(f.raised_at)]);
  }

  function setStatus(ok, text) {
    const s = $('status');
    s.textContent = text;
    s.className = 'status ' + (ok ? 'ok' : 'bad');
  }

  async function refresh() {
    const t0 = performance.now();
    try {
      const [summary, centres, invalid, downloads, sinks, dead, stations, alerts, sensor] = await Promise.all(
        ['summary', 'centres', 'invalid', 'downloads', 'sinks', 'dead-letters?limit=100', 'stations', 'alerts', 'sensor-centre'].map(
          (p) => getJson('/api/' + p),
        ),
      );
      renderSummary(summary, sinks);
      centreData = centres.centres;
      renderCentres();
      renderChart(centres);
      map.stations = stations.stations;
      map.alerts = alerts.alerts;
      $('station-count').textContent = fmt(stations.stations.length);
      drawMap();
      renderLists(invalid, downloads, dead, alerts);
      renderSensorCentre(sensor);
      const up = summary.brokers.filter((b) => b.connected).length;
      setStatus(summary.brokers.length === 0 || up > 0, summary.brokers.length ? up + '/' + summary.brokers.length + ' brokers up' : 'running');
      $('updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
      info.lastError = '';
    } catch (e) {
      info.lastError = String(e.message || e);
      setStatus(false, 'monitor unreachable: ' + info.lastError);
    }
    info.lastRefreshMs = performance.now() - t0;
    info.refreshes++;
    setTimeout(refresh, refreshMs);
  }
  window.addEventListener('resize', () => {
    drawMap();
  });
  refresh();
})();
