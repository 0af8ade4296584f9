// Metrograph's dashboard: panels of live charts over the public GraphQL API (HTTP for
// discovery, graphql-ws for liveAggregates). No build step: this file, uPlot (served from
// node_modules by the service) and the browser. Panels live in the URL's hash.
import uPlot from '/dashboard/vendor/uPlot.esm.js';
import { bandLayer, watchBand } from '/dashboard/anomaly-band.js';

/** Okabe–Ito: distinguishable with the common colour blindnesses. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000', '#F0E442'];
const KEY_STORAGE = 'metrograph.key';
const RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
const STEPS = { MINUTE: 60e3, FIVE_MINUTES: 300e3, HOUR: 3600e3, DAY: 86400e3 };

const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem(KEY_STORAGE);
let live = null;
const panels = [];

// ---------------------------------------------------------------------------------------------
// GraphQL over HTTP

class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError(`The service cannot be reached (${error.message})`, 'NETWORK');
  }
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}`, extensions: { code: 'HTTP_ERROR' } }] }));
  if (body.errors?.length) throw new ApiError(body.errors[0].message, body.errors[0].extensions?.code ?? 'ERROR');
  return body.data;
}

const describe = (error) => `${error.code ?? 'ERROR'}: ${error.message}`;

// ---------------------------------------------------------------------------------------------
// graphql-ws (graphql-transport-ws protocol), reconnecting with backoff

function setConnection(state, text) {
  const el = $('connection');
  el.dataset.state = state;
  el.textContent = text;
  // The charts are marked stale (style.css) while updates cannot arrive.
  document.body.dataset.live = state;
}

class Live {
  constructor() {
    this.subscriptions = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.open = false;
    this.closed = false;
    this.connect();
  }
  connect() {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`, 'graphql-transport-ws');
    this.ws = ws;
    setConnection('connecting', 'live: connecting…');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === 'connection_ack') {
        this.open = true;
        this.attempt = 0;
        setConnection('open', 'live: connected');
        for (const [id, sub] of this.subscriptions) this.start(id, sub);
      } else if (message.type === 'next') this.subscriptions.get(message.id)?.next(message.payload);
      else if (message.type === 'error') this.subscriptions.get(message.id)?.error(new ApiError(message.payload[0]?.message ?? 'error', message.payload[0]?.extensions?.code ?? 'ERROR'));
      else if (message.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    };
    ws.onclose = (event) => {
      this.open = false;
      if (this.closed) return;
      if (event.code === 4403) {
        setConnection('lost', 'live: refused (UNAUTHENTICATED: the key was revoked or has expired)');
        return;
      }
      const delay = Math.min(10_000, 500 * 2 ** this.attempt++);
      setConnection('lost', `live: connection lost (${event.code}); reconnecting in ${Math.round(delay / 1000)} s`);
      setTimeout(() => this.connect(), delay);
    };
  }
  start(id, sub) {
    this.ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query: sub.query, variables: sub.variables() } }));
  }
  /** `variables` is a function: a reconnect asks again (a relative range moves on). */
  subscribe(query, variables, next, error) {
    const id = String(this.nextId++);
    const sub = { query, variables, next, error };
    this.subscriptions.set(id, sub);
    if (this.open) this.start(id, sub);
    return () => {
      this.subscriptions.delete(id);
      if (this.open) this.ws.send(JSON.stringify({ id, type: 'complete' }));
    };
  }
  close() {
    this.closed = true;
    this.ws.close(1000);
  }
}

// ---------------------------------------------------------------------------------------------
// Panels

function inputOf(config) {
  const input = { metrics: [config.metric] };
  if (config.granularity) input.granularity = config.granularity;
  if (config.groupBy) input.groupBy = [config.groupBy];
  if (config.filterKey && config.filterValue) input.tags = { [config.filterKey]: config.filterValue };
  if (config.range === 'custom') {
    input.from = new Date(config.from).toISOString();
    if (config.to) input.to = new Date(config.to).toISOString();
  } else {
    // Floored to the step: dashboards showing the same panel share one evaluator on the server.
    const step = STEPS[config.granularity] ?? 60e3;
    input.from = new Date(Math.floor((Date.now() - RANGES[config.range]) / step) * step).toISOString();
  }
  return input;
}

const fieldsOf = (config) => [...new Set(['count', ...config.aggs])];

function documentOf(config) {
  return `subscription Panel($input: AggregateQueryInput!) {
  liveAggregates(input: $input) {
    initial granularity
    series { metric unit tags buckets { start ${fieldsOf(config).join(' ')} } }
    metadata { source }
  }
}`;
}

/** A GraphQL literal of a JSON value (for the GraphiQL link, which takes only a query). */
function literal(value, enums = new Set(['granularity'])) {
  if (Array.isArray(value)) return `[${value.map((v) => literal(v)).join(', ')}]`;
  if (value && typeof value === 'object') return `{ ${Object.entries(value).map(([k, v]) => `${/^[_A-Za-z][_0-9A-Za-z]*$/.test(k) ? k : JSON.stringify(k)}: ${enums.has(k) ? v : literal(v, new Set())}`).join(', ')} }`;
  return JSON.stringify(value);
}

function graphiqlLink(config) {
  const query = `query Panel {
  metricAggregates(input: ${literal(inputOf(config))}) {
    series { metric tags buckets { start ${fieldsOf(config).join(' ')} } }
    metadata { source executionTimeMs fromCache }
  }
}`;
  // The key rides in the fragment (never sent to the server); GraphiQL puts it in its Headers tab.
  const headers = JSON.stringify({ Authorization: `Bearer ${key}` });
  return `/graphql?query=${encodeURIComponent(query)}#headers=${encodeURIComponent(headers)}`;
}

function saveToUrl() {
  const configs = panels.map((p) => p.config);
  history.replaceState(null, '', configs.length ? `#panels=${encodeURIComponent(JSON.stringify(configs))}` : location.pathname);
}

function csvOf(panel) {
  const fields = fieldsOf(panel.config);
  const quote = (text) => (/[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  const lines = [['metric', 'tags', 'start', ...fields].join(',')];
  for (const series of panel.series.values()) {
    for (const bucket of [...series.buckets.values()].sort((a, b) => a.start.localeCompare(b.start))) {
      lines.push([quote(series.metric), quote(JSON.stringify(series.tags)), bucket.start, ...fields.map((f) => bucket[f] ?? '')].join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

function addPanel(config) {
  const el = document.createElement('article');
  el.className = 'panel';
  el.dataset.panel = String(panels.length);
  const title = `${config.metric}${config.groupBy ? ` by ${config.groupBy}` : ''}${config.filterKey && config.filterValue ? ` where ${config.filterKey}=${config.filterValue}` : ''} — ${config.aggs.join(', ')} — ${config.range === 'custom' ? 'custom range' : `last ${config.range}`}`;
  el.innerHTML = `<h3></h3><div class="actions"><a class="graphiql">Open in GraphiQL</a><button type="button" class="csv">Export CSV</button><button type="button" class="remove">Remove</button></div><p class="state" role="status">Loading…</p><div class="chart"></div><p class="filling" hidden></p>`;
  el.querySelector('h3').textContent = title;
  el.querySelector('.graphiql').href = graphiqlLink(config);
  $('panels').append(el);

  const panel = { config, title, el, series: new Map(), plot: null, plotShape: '', updates: 0, unsubscribe: null };
  const state = el.querySelector('.state');
  const showState = (text, kind = 'info') => {
    state.textContent = text;
    state.dataset.kind = kind;
    state.hidden = !text;
  };

  if (config.anomalies) {
    panel.band = watchBand(config, gql, () => inputOf(config), () => render(panel, showState));
    el.querySelector('.actions').after(Object.assign(document.createElement('p'), { className: 'band-state', role: 'status' }));
  }
  panel.unsubscribe = live.subscribe(
    documentOf(config),
    () => ({ input: inputOf(config) }),
    (payload) => {
      if (payload.errors?.length) {
        showState(describe(new ApiError(payload.errors[0].message, payload.errors[0].extensions?.code)), 'error');
        return;
      }
      const update = payload.data.liveAggregates;
      if (update.initial) panel.series.clear();
      if (update.granularity) panel.granularity = update.granularity;
      for (const s of update.series) {
        const id = `${s.metric} ${JSON.stringify(s.tags)}`;
        let target = panel.series.get(id);
        if (!target) panel.series.set(id, (target = { metric: s.metric, unit: s.unit ?? null, tags: s.tags, buckets: new Map() }));
        for (const bucket of s.buckets) target.buckets.set(bucket.start, bucket);
      }
      panel.updates++;
      render(panel, showState);
    },
    (error) => showState(describe(error), 'error'),
  );
  el.querySelector('.remove').addEventListener('click', () => {
    panel.unsubscribe();
    panel.band?.stop();
    panel.plot?.destroy();
    el.remove();
    panels.splice(panels.indexOf(panel), 1);
    saveToUrl();
  });
  el.querySelector('.csv').addEventListener('click', () => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([csvOf(panel)], { type: 'text/csv' }));
    link.download = `${config.metric}.csv`;
    link.click();
    URL.revokeObjectURL(link.href);
  });
  panels.push(panel);
  saveToUrl();
}

/**
 * The unit a field of a series is in: count is a number of points; rate is the unit per second;
 * the others are in the metric's own unit. Null when the metric has none.
 */
function unitOf(field, unit) {
  if (field === 'count') return null;
  if (field === 'rate') return unit ? `${unit}/s` : '/s';
  return unit;
}

const withUnit = (text, unit) => (unit ? `${text} (${unit})` : text);

function render(panel, showState) {
  const fields = panel.config.aggs;
  const seriesList = [...panel.series.values()].sort((a, b) => JSON.stringify(a.tags).localeCompare(JSON.stringify(b.tags)));
  const starts = [...new Set(seriesList.flatMap((s) => [...s.buckets.keys()]))].sort();
  let count = 0;
  for (const s of seriesList) for (const b of s.buckets.values()) count += b.count ?? 0;
  const { el } = panel;
  el.dataset.buckets = String(seriesList.reduce((n, s) => n + s.buckets.size, 0));
  el.dataset.count = String(count);
  el.dataset.groups = seriesList.map((s) => Object.values(s.tags).join(',') || '(all)').join('|');
  el.dataset.updates = String(panel.updates);
  if (starts.length === 0) {
    showState('No data in this range yet: points recorded now will appear here.');
    panel.plot?.destroy();
    panel.plot = null;
    panel.plotShape = '';
    return;
  }
  showState('');
  const lines = seriesList.flatMap((s) => fields.map((f) => ({ label: withUnit(`${Object.values(s.tags).join(',') || s.metric} ${f}`, unitOf(f, s.unit)), unit: unitOf(f, s.unit), s, f })));
  // The y axis names its unit when every line shares one (count beside p95 in ms does not).
  const units = [...new Set(lines.map((l) => l.unit))];
  const axisUnit = units.length === 1 ? units[0] : null;
  el.dataset.unit = axisUnit ?? '';
  markFilling(panel, starts.at(-1));
  const heading = el.querySelector('h3');
  heading.textContent = withUnit(panel.title, axisUnit);
  // The expected band and anomalies (anomaly-band.js), when the panel asked for them.
  const layer = bandLayer(panel.band?.current, seriesList, starts, 1 + lines.length);
  if (panel.band) {
    el.dataset.anomalies = String(layer?.anomalies ?? 0);
    const note = panel.band.error ?? (layer?.learning ? `${layer.learning} series still learning their baseline (too little history)` : '');
    el.querySelector('.band-state').textContent = note;
  }
  const xs = layer ? layer.starts : starts;
  const data = [xs.map((t) => Date.parse(t) / 1000), ...lines.map(({ s, f }) => xs.map((t) => s.buckets.get(t)?.[f] ?? null)), ...(layer?.columns ?? [])];
  const shape = [...lines.map((l) => l.label), ...(layer?.series.map((s) => s.label) ?? [])].join('|');
  const chart = el.querySelector('.chart');
  if (panel.plot && panel.plotShape === shape) {
    panel.plot.setData(data);
    showLatest(panel.plot);
    return;
  }
  // The x axis spans the panel's range, not just the buckets that have points.
  const windowOf = () => {
    const input = inputOf(panel.config);
    const end = input.to ? Date.parse(input.to) : Math.max(Date.now(), ...starts.map((t) => Date.parse(t) + (STEPS[panel.config.granularity] ?? 60e3)));
    return [Date.parse(input.from) / 1000, end / 1000];
  };
  panel.plot?.destroy();
  panel.plotShape = shape;
  panel.plot = new uPlot(
    {
      width: Math.max(320, chart.clientWidth || 900),
      height: 280,
      // spanGaps false: a bucket with no points is a gap, not a line drawn across it.
      series: [{}, ...lines.map((line, i) => ({ label: line.label, stroke: PALETTE[i % PALETTE.length], width: 2, dash: i >= PALETTE.length ? [6, 4] : undefined, spanGaps: false, points: { show: true, size: 4 } })), ...(layer?.series ?? [])],
      bands: layer?.bands,
      scales: { x: { time: true, range: () => windowOf() } },
      axes: [{}, { size: 70, label: axisUnit ?? undefined, values: (_, ticks) => ticks.map((v) => (axisUnit ? `${v} ${axisUnit}` : String(v))) }],
      hooks: { setCursor: [(u) => u.cursor.idx == null && showLatest(u)] },
    },
    data,
    chart,
  );
  showLatest(panel.plot);
}

/**
 * The newest bucket of an open-ended panel is still filling: its count and sum read low until
 * it closes. Said under the chart (and in data-filling), so a dip at the end is not taken as a fall.
 */
function markFilling(panel, lastStart) {
  const note = panel.el.querySelector('.filling');
  const step = STEPS[panel.granularity ?? panel.config.granularity] ?? 60e3;
  const end = lastStart ? Date.parse(lastStart) + step : 0;
  const filling = !inputOf(panel.config).to && end > Date.now();
  panel.el.dataset.filling = filling ? lastStart : '';
  note.hidden = !filling;
  if (filling) note.textContent = `The last bucket (from ${new Date(Date.parse(lastStart)).toLocaleTimeString()}) is still filling until ${new Date(end).toLocaleTimeString()}: it reads low until then.`;
}

/** Without a hover, the legend shows each line's newest value (uPlot shows values only under the cursor). */
function showLatest(plot) {
  const last = plot.data[0].length - 1;
  if (last >= 0 && plot.cursor.idx == null) plot.setLegend({ idx: last }, false);
}

// ---------------------------------------------------------------------------------------------
// The editor: metric search, tag keys and values

let searchTimer;
async function searchMetrics(prefix) {
  try {
    const data = await gql('query Search($p: String) { metrics(prefix: $p, limit: 20) { name type unit } metricDefinitions(prefix: $p, limit: 20) { name } }', { p: prefix || null });
    const options = [...data.metrics.map((m) => [m.name, `${m.type.toLowerCase()}${m.unit ? `, ${m.unit}` : ''}`]), ...data.metricDefinitions.map((d) => [d.name, 'definition'])];
    $('metric-options').replaceChildren(...options.map(([value, label]) => Object.assign(document.createElement('option'), { value, label })));
  } catch (error) {
    showBanner(describe(error));
  }
}

function fillSelect(select, values, empty) {
  select.replaceChildren(Object.assign(document.createElement('option'), { value: '', textContent: empty }), ...values.map((v) => Object.assign(document.createElement('option'), { value: v, textContent: v })));
}

async function loadTagKeys() {
  const metric = $('metric').value.trim();
  if (!metric) return;
  try {
    const { tagKeys } = await gql('query Keys($m: String!) { tagKeys(metric: $m) }', { m: metric });
    fillSelect($('group-by'), tagKeys, '(none)');
    fillSelect($('filter-key'), tagKeys, '(none)');
    fillSelect($('filter-value'), [], '(any)');
  } catch (error) {
    showBanner(describe(error));
  }
}

async function loadTagValues() {
  const metric = $('metric').value.trim();
  const tagKey = $('filter-key').value;
  if (!metric || !tagKey) return fillSelect($('filter-value'), [], '(any)');
  try {
    const { tagValues } = await gql('query Values($m: String!, $k: String!) { tagValues(metric: $m, key: $k, limit: 100) }', { m: metric, k: tagKey });
    fillSelect($('filter-value'), tagValues, '(any)');
  } catch (error) {
    showBanner(describe(error));
  }
}

function showBanner(text) {
  const banner = $('banner');
  banner.textContent = text;
  banner.hidden = !text;
}

function configFromEditor() {
  const form = $('editor');
  const aggs = [...form.querySelectorAll('input[name="agg"]:checked')].map((i) => i.value);
  return {
    metric: $('metric').value.trim(),
    groupBy: $('group-by').value,
    filterKey: $('filter-key').value,
    filterValue: $('filter-value').value,
    range: $('range').value,
    from: $('from').value,
    to: $('to').value,
    granularity: $('granularity').value,
    aggs: aggs.length ? aggs : ['avg'],
    anomalies: $('anomaly-band').checked,
  };
}

// ---------------------------------------------------------------------------------------------
// Firing alerts: those firing now (alertRules), then kept current by the alertEvents subscription

const firing = new Map();

function renderAlerts() {
  const box = $('alerts');
  box.hidden = firing.size === 0;
  const items = [...firing.values()].map((a) => {
    const li = document.createElement('li');
    li.textContent = `${a.severity} ${a.name} is firing${a.value === null || a.value === undefined ? '' : ` (value ${a.value})`}`;
    return li;
  });
  box.replaceChildren(Object.assign(document.createElement('strong'), { textContent: 'Firing alerts' }), Object.assign(document.createElement('ul'), {}));
  box.querySelector('ul').replaceChildren(...items);
  box.dataset.firing = [...firing.values()].map((a) => a.name).join('|');
}

async function watchAlerts() {
  try {
    const { alertRules } = await gql('query Firing { alertRules { id name severity state lastValue } }');
    for (const rule of alertRules) if (rule.state === 'FIRING') firing.set(rule.id, { name: rule.name, severity: rule.severity, value: rule.lastValue });
    renderAlerts();
  } catch (error) {
    showBanner(describe(error));
  }
  live.subscribe(
    'subscription Alerts { alertEvents { ruleId ruleName severity to value } }',
    () => ({}),
    (payload) => {
      const event = payload.data?.alertEvents;
      if (!event) return;
      if (event.to === 'FIRING') firing.set(event.ruleId, { name: event.ruleName, severity: event.severity, value: event.value });
      else firing.delete(event.ruleId);
      renderAlerts();
    },
    (error) => showBanner(describe(error)),
  );
}

// ---------------------------------------------------------------------------------------------
// Start

async function enter() {
  try {
    await gql('query Who { tenant { id name } }');
  } catch (error) {
    sessionStorage.removeItem(KEY_STORAGE);
    key = null;
    $('login').hidden = false;
    $('app').hidden = true;
    const message = $('login-error');
    message.textContent = describe(error);
    message.hidden = false;
    return;
  }
  $('login').hidden = true;
  $('login-error').hidden = true;
  $('app').hidden = false;
  live = new Live();
  void watchAlerts();
  const saved = /#panels=(.*)$/.exec(location.hash);
  if (saved) {
    try {
      for (const config of JSON.parse(decodeURIComponent(saved[1]))) addPanel(config);
    } catch {
      showBanner('The panels in this link could not be read.');
    }
  }
  void searchMetrics('');
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  key = $('api-key').value.trim();
  sessionStorage.setItem(KEY_STORAGE, key);
  void enter();
});
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  live?.close();
  location.reload();
});
$('metric').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => searchMetrics($('metric').value.trim()), 200);
});
$('metric').addEventListener('change', loadTagKeys);
$('filter-key').addEventListener('change', loadTagValues);
$('range').addEventListener('change', () => ($('editor').dataset.range = $('range').value));
$('editor').addEventListener('submit', (event) => {
  event.preventDefault();
  const config = configFromEditor();
  if (!config.metric) return;
  if (config.range === 'custom' && !config.from) return showBanner('A custom range needs a start.');
  showBanner('');
  addPanel(config);
});

if (key) void enter();
else $('login').hidden = false;
