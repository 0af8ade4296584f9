/**
 * metricAnomalies and ANOMALY alert rules end to end: four weeks of hourly seasonal history
 * recorded through the API, one injected spike, and the answers compared with the pure
 * baseline (src/anomaly/baseline.ts) over the same values; bad input, the history budget,
 * LEARNING, a definition, tenant isolation, and a rule going PENDING → FIRING → RESOLVED with
 * a signed webhook.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { graphql } from './gql/index.js';
import { CreateMetricDefinition, RecordMetrics } from './operations.js';
import { codes, ENGINES, startApp, type TestApp } from './harness.js';
import { HOUR_MS, judgeSeries, SENSITIVITIES, WEEK_MS, DAY_MS } from '../src/anomaly/baseline.js';
import { signWebhook } from '../src/alerts/evaluate.js';

const MetricAnomalies = graphql(`
  query MetricAnomalies($input: AnomalyQueryInput!) {
    metricAnomalies(input: $input) {
      threshold
      source
      series { metric tags state points { start end value expected lower upper score anomaly } }
    }
  }
`);
const CreateAnomalyRule = graphql(`
  mutation CreateAnomalyRule($input: CreateAlertRuleInput!) {
    createAlertRule(input: $input) { webhookSecret rule { id kind sensitivity historyWeeks minHistoryDays state } }
  }
`);
const AnomalyRuleStates = graphql(`query AnomalyRuleStates { alertRules { id state lastValue } }`);
const AnomalyEvents = graphql(`query AnomalyEvents($ruleId: ID) { alertEvents(ruleId: $ruleId) { from to value threshold } }`);
const AnomalyDeliveries = graphql(`query AnomalyDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status attempts { statusCode } } }`);

/** The first judged hour: three days back, on a whole hour; history is the four weeks before it. */
let JUDGE = NaN;
let HISTORY = NaN;
let SPIKE = NaN;
/** The range every test judges (filled in with JUDGE). */
const judged = { metric: 'req', from: '', to: '' };
// Read when the tests start, not when the module loads (a file can wait minutes for a worker).
beforeAll(() => {
  JUDGE = Math.floor((Date.now() - 3 * DAY_MS) / HOUR_MS) * HOUR_MS;
  HISTORY = JUDGE - 4 * WEEK_MS;
  SPIKE = JUDGE + 10 * HOUR_MS;
  Object.assign(judged, { from: iso(JUDGE), to: iso(JUDGE + 48 * HOUR_MS) });
});
const iso = (t: number) => new Date(t).toISOString();

/** A daily wave, lower weekends, a small fixed wobble (so the scale is not the floor), and for /a a spike. */
function valueAt(t: number, route: string): number {
  const date = new Date(t);
  const weekend = date.getUTCDay() === 0 || date.getUTCDay() === 6;
  const wobble = ((((t / HOUR_MS) * 7919) % 11) - 5) / 5;
  const base = 100 + 50 * Math.sin((date.getUTCHours() / 24) * 2 * Math.PI) - (weekend ? 30 : 0) + wobble + (route === '/b' ? 20 : 0);
  return Math.round((base + (route === '/a' && t === SPIKE ? 80 : 0)) * 1000) / 1000;
}

describe.each(ENGINES)('anomalies on %s', (engine) => {
  let app: TestApp;
  let tenant: { tenantId: string; adminKey: string };
  const anomalies = (input: Record<string, unknown>, key = tenant.adminKey) => app.send(MetricAnomalies, { input }, key);

  beforeAll(async () => {
    // Its own engine, as reports.test.ts: five weeks of late points to take in.
    app = await startApp(engine, { ALERT_EVALUATION_CRON: 'off', ANOMALY_MAX_CELLS: '2000', MAX_BATCH_SIZE: '2000', WEBHOOK_ALLOW_PRIVATE: 'true' }, { ownEngine: true });
    tenant = await app.createTenant();
    const points: Array<Record<string, unknown>> = [];
    for (let t = HISTORY; t < JUDGE + 48 * HOUR_MS; t += HOUR_MS) {
      for (const route of ['/a', '/b']) points.push({ name: 'req', type: 'GAUGE', value: valueAt(t, route), tags: { route }, timestamp: iso(t + 60_000) });
    }
    const result = await app.gql(RecordMetrics, { metrics: points as never }, tenant.adminKey);
    expect(result.data!.recordMetrics.failed).toEqual([]);
    // Weeks-old points are late points: the late-points job takes them into the aggregates.
    await app.takeInLatePoints();
    // Starting an embedded engine alone can take a minute on a loaded machine.
  }, 240_000);
  afterAll(() => app.close());

  test('each bucket against its seasonal baseline: exactly the spike is an anomaly, with the pure baseline’s numbers', async () => {
    const result = (await anomalies({ ...judged, groupBy: ['route'] })).data!.metricAnomalies;
    expect(result.threshold).toBe(SENSITIVITIES.MEDIUM);
    // From the aggregates only, never raw points: the hourly level, and where the history passes
    // the 30-day edge of raw points and 1 minute buckets the finest level left (5 minutes) —
    // whether the range reaches that edge depends on the hour the test runs.
    if (engine === 'embedded') {
      const sources = result.source.split('+');
      // groupBy route alone: the hourly level's route groups (migrations/0076) answer.
      expect(sources).toContain('group_stats_1h');
      expect(sources.filter((s) => s !== 'group_stats_1h' && s !== 'stats_5m')).toEqual([]);
    }
    expect(result.series.map((s) => [s.tags, s.state, s.points.length])).toEqual([
      [{ route: '/a' }, 'READY', 48],
      [{ route: '/b' }, 'READY', 48],
    ]);
    const [a, b] = result.series;
    expect(a!.points.filter((p) => p.anomaly).map((p) => p.start)).toEqual([iso(SPIKE)]);
    expect(b!.points.filter((p) => p.anomaly)).toEqual([]);

    const values = new Map<number, number>();
    for (let t = HISTORY; t < JUDGE + 48 * HOUR_MS; t += HOUR_MS) values.set(t, valueAt(t, '/a'));
    const pure = judgeSeries(values, JUDGE, JUDGE + 48 * HOUR_MS, { widthMs: HOUR_MS, historyWeeks: 4, threshold: SENSITIVITIES.MEDIUM, minHistoryMs: 7 * DAY_MS });
    a!.points.forEach((p, i) => {
      const q = pure.points[i]!;
      expect(p.start).toBe(iso(q.start));
      expect(p.end).toBe(iso(q.start + HOUR_MS));
      expect(p.value).toBeCloseTo(q.value!, 9);
      expect(p.expected).toBeCloseTo(q.expected!, 9);
      expect(p.lower).toBeCloseTo(q.lower!, 9);
      expect(p.upper).toBeCloseTo(q.upper!, 9);
      expect(p.score).toBeCloseTo(q.score!, 9);
    });
    const spike = a!.points.find((p) => p.start === iso(SPIKE))!;
    expect(spike.value! - spike.expected!).toBeGreaterThan(75);
  });

  test('bad input gets its code and says why', async () => {
    const minute = await anomalies({ ...judged, granularity: 'MINUTE' });
    expect(codes(minute)).toEqual(['BAD_USER_INPUT']);
    expect(minute.errors![0]!.message).toContain('granularity must be HOUR or DAY');
    expect(codes(await anomalies({ ...judged, granularity: 'FIVE_MINUTES' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await anomalies({ ...judged, metric: 'no.such.metric' }))).toEqual(['NOT_FOUND']);
    expect(codes(await anomalies({ ...judged, to: judged.from }))).toEqual(['BAD_USER_INPUT']);
    // The current hour has not ended: nothing to judge.
    const current = await anomalies({ metric: 'req', from: iso(Date.now() - 60_000) });
    expect(codes(current)).toEqual(['BAD_USER_INPUT']);
    expect(current.errors![0]!.message).toContain('at least one whole hour');
    expect(codes(await anomalies({ ...judged, historyWeeks: 0 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await anomalies({ ...judged, sensitivity: 'EXTREME' }))).toEqual(['BAD_USER_INPUT']);
    // The history budget (2000 cells here): 2 series × (4 weeks + 48 hours) fits; 8 weeks does not.
    expect(codes(await anomalies({ ...judged, historyWeeks: 8 }))).toEqual(['LIMIT_EXCEEDED']);
    expect(codes(await anomalies({ ...judged, historyWeeks: 8, tags: { route: '/a' } }))).toEqual([]);
  });

  test('a series with too little history is LEARNING and flags nothing', async () => {
    const since = JUDGE - 2 * DAY_MS;
    const points = [];
    for (let t = since; t < JUDGE + 12 * HOUR_MS; t += HOUR_MS) points.push({ name: 'fresh', type: 'GAUGE' as const, value: t === JUDGE + 5 * HOUR_MS ? 1000 : 5, timestamp: iso(t) });
    expect((await app.gql(RecordMetrics, { metrics: points }, tenant.adminKey)).data!.recordMetrics.failed).toEqual([]);
    const [series] = (await anomalies({ metric: 'fresh', from: iso(JUDGE), to: iso(JUDGE + 12 * HOUR_MS) })).data!.metricAnomalies.series;
    expect(series!.state).toBe('LEARNING');
    expect(series!.points.map((p) => p.value)).toEqual(Array.from({ length: 12 }, (_, i) => (i === 5 ? 1000 : 5)));
    expect(series!.points.every((p) => !p.anomaly && p.expected === null)).toBe(true);
    // With a minimum of one day it is judged, against the same hour of the previous days.
    const ready = (await anomalies({ metric: 'fresh', from: iso(JUDGE), to: iso(JUDGE + 12 * HOUR_MS), minHistoryDays: 1 })).data!.metricAnomalies.series[0]!;
    expect(ready.state).toBe('READY');
    expect(ready.points.filter((p) => p.anomaly).map((p) => p.start)).toEqual([iso(JUDGE + 5 * HOUR_MS)]);
    // An ANOMALY rule on it does not hold while it learns, and does with a one-day minimum.
    const rule = async (name: string, minHistoryDays: number) =>
      (await app.gql(CreateAnomalyRule, { input: { name, kind: 'ANOMALY', metric: 'fresh', minHistoryDays } }, tenant.adminKey)).data!.createAlertRule.rule.id;
    const learning = await rule('fresh unusual', 7);
    const eager = await rule('fresh unusual, eager', 1);
    await app.server.deps.alerts.evaluate(new Date(JUDGE + 6 * HOUR_MS + 5_000));
    const states = (await app.gql(AnomalyRuleStates, {}, tenant.adminKey)).data!.alertRules;
    expect(states.find((r) => r.id === learning)).toMatchObject({ state: 'OK', lastValue: 1000 });
    expect(states.find((r) => r.id === eager)).toMatchObject({ state: 'FIRING', lastValue: 1000 });
  });

  test('a metric definition is judged by its own value', async () => {
    await app.gql(CreateMetricDefinition, { input: { name: 'req.a.double', formula: 'sum(req{route="/a"}) * 2' } }, tenant.adminKey);
    const [series] = (await anomalies({ ...judged, metric: 'req.a.double' })).data!.metricAnomalies.series;
    expect(series!.state).toBe('READY');
    expect(series!.points.find((p) => p.start === iso(SPIKE))!.value).toBeCloseTo(2 * valueAt(SPIKE, '/a'), 9);
    expect(series!.points.filter((p) => p.anomaly).map((p) => p.start)).toEqual([iso(SPIKE)]);
  });

  test('tenant B sees none of A’s series: unknown to it, then only its own', async () => {
    const b = await app.createTenant();
    expect(codes(await anomalies(judged, b.adminKey))).toEqual(['NOT_FOUND']);
    expect(codes(await anomalies({ ...judged, metric: 'req.a.double' }, b.adminKey))).toEqual(['NOT_FOUND']);
    await app.gql(RecordMetrics, { metrics: [{ name: 'req', type: 'GAUGE', value: 7, tags: { route: '/b-only' }, timestamp: iso(JUDGE + HOUR_MS) }] }, b.adminKey);
    const result = (await anomalies({ ...judged, groupBy: ['route'] }, b.adminKey)).data!.metricAnomalies;
    expect(result.series.map((s) => [s.tags, s.state])).toEqual([[{ route: '/b-only' }, 'LEARNING']]);
    expect(result.series[0]!.points.filter((p) => p.value !== null).map((p) => p.value)).toEqual([7]);
  });

  test('an ANOMALY rule: PENDING then FIRING on the spike hour, RESOLVED after it, with a signed webhook', async () => {
    const received: Array<{ headers: Record<string, unknown>; body: string }> = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const bad = await app.send(CreateAnomalyRule, { input: { name: 'x', kind: 'ANOMALY', metric: 'req', minHistoryDays: 0 } }, tenant.adminKey);
      expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
      const created = (await app.gql(CreateAnomalyRule, { input: { name: 'req /a unusual', kind: 'ANOMALY', metric: 'req', tags: { route: '/a' }, sensitivity: 'MEDIUM', forSeconds: 60, webhookUrl: url } }, tenant.adminKey)).data!.createAlertRule;
      expect(created.rule).toMatchObject({ kind: 'ANOMALY', sensitivity: 'MEDIUM', historyWeeks: 4, minHistoryDays: 7, state: 'OK' });
      const id = created.rule.id;
      const stateOf = async () => (await app.gql(AnomalyRuleStates, {}, tenant.adminKey)).data!.alertRules.find((r) => r.id === id)!;
      const evaluate = (t: number) => app.server.deps.alerts.evaluate(new Date(t));

      await evaluate(SPIKE - 5 * 60_000); // the newest whole hour is the one before the spike
      expect((await stateOf()).state).toBe('OK');
      await evaluate(SPIKE + HOUR_MS + 5_000); // the spike hour has ended
      expect(await stateOf()).toMatchObject({ state: 'PENDING', lastValue: valueAt(SPIKE, '/a') });
      await evaluate(SPIKE + HOUR_MS + 65_000);
      expect((await stateOf()).state).toBe('FIRING');
      await evaluate(SPIKE + 2 * HOUR_MS + 5_000); // the hour after is ordinary again
      expect((await stateOf()).state).toBe('RESOLVED');
      expect((await app.gql(AnomalyEvents, { ruleId: id }, tenant.adminKey)).data!.alertEvents.map((e) => [e.from, e.to, e.threshold])).toEqual([
        ['FIRING', 'RESOLVED', SENSITIVITIES.MEDIUM],
        ['PENDING', 'FIRING', SENSITIVITIES.MEDIUM],
        ['OK', 'PENDING', SENSITIVITIES.MEDIUM],
      ]);

      await app.server.deps.alerts.deliverWebhooks(new Date(SPIKE + 2 * HOUR_MS + 5_000));
      expect((await app.gql(AnomalyDeliveries, { ruleId: id }, tenant.adminKey)).data!.webhookDeliveries.map((d) => d.status)).toEqual(['DELIVERED', 'DELIVERED']);
      const bodies = received.map(({ headers, body }) => {
        expect(headers['x-metrograph-signature']).toBe(signWebhook(created.webhookSecret!, String(headers['x-metrograph-timestamp']), body));
        return JSON.parse(body) as { event: { to: string; value: number; anomaly: { hour: string; state: string; score: number } } };
      });
      const firing = bodies.find((b) => b.event.to === 'FIRING')!;
      expect(firing.event).toMatchObject({ value: valueAt(SPIKE, '/a'), anomaly: { hour: iso(SPIKE), state: 'READY' } });
      expect(firing.event.anomaly.score).toBeGreaterThan(SENSITIVITIES.MEDIUM);
    } finally {
      hook.close();
    }
  });
});
