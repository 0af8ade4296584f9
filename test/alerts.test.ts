/**
 * Alert rules end to end: management and its errors, the state machine driven by evaluations
 * at chosen instants over known points, error-rate, absence and definition rules, signed
 * webhooks with retries, the alertEvents subscription, and tenant isolation. The cron job is
 * off: each test calls the evaluation itself with its own clock.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { print } from 'graphql';
import { graphql } from './gql/index.js';
import { CreateMetricDefinition, RecordMetrics } from './operations.js';
import { codes, ENGINES, startApp, type TestApp } from './harness.js';
import { signWebhook } from '../src/alerts/evaluate.js';

const CreateAlertRule = graphql(`
  mutation CreateAlertRule($input: CreateAlertRuleInput!) {
    createAlertRule(input: $input) { webhookSecret rule { id name kind metric aggregation comparison threshold windowSeconds forSeconds cooldownSeconds severity labels webhookUrl paused state } }
  }
`);
const UpdateAlertRule = graphql(`
  mutation UpdateAlertRule($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { id name threshold severity webhookUrl } }
`);
const PauseAlertRule = graphql(`mutation PauseAlertRule($id: ID!) { pauseAlertRule(id: $id) { id paused } }`);
const ResumeAlertRule = graphql(`mutation ResumeAlertRule($id: ID!) { resumeAlertRule(id: $id) { id paused } }`);
const DeleteAlertRule = graphql(`mutation DeleteAlertRule($id: ID!) { deleteAlertRule(id: $id) }`);
const AlertRules = graphql(`query AlertRules { alertRules { id name state lastValue paused } }`);
const AlertEvents = graphql(`
  query AlertEventsHistory($ruleId: ID) { alertEvents(ruleId: $ruleId) { id ruleId ruleName severity labels at from to value threshold } }
`);
const WebhookDeliveries = graphql(`
  query WebhookDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status url attempts { attempt statusCode error } deliveredAt } }
`);
const AlertAudit = graphql(`
  query AlertAudit { auditLog(filter: { actions: [ALERT_RULE_CREATED, ALERT_RULE_UPDATED, ALERT_RULE_PAUSED, ALERT_RULE_RESUMED, ALERT_RULE_DELETED] }) { entries { action target } } }
`);
const AlertEventsLive = graphql(`
  subscription AlertEventsLive { alertEvents { ruleName severity from to value threshold } }
`);

const MINUTE = 60_000;

describe.each(ENGINES)('alert rules on %s', (engine) => {
  let app: TestApp;
  let tenant: { tenantId: string; adminKey: string };
  /** A fixed instant two hours back, on a minute: every point and evaluation is relative to it. */
  const T = Math.floor((Date.now() - 2 * 3_600_000) / MINUTE) * MINUTE;
  const at = (seconds: number) => new Date(T + seconds * 1000);

  const record = async (points: Array<{ name: string; value: number; type?: 'GAUGE' | 'COUNTER'; tags?: Record<string, string>; at: number }>, key = tenant.adminKey) => {
    const result = await app.gql(RecordMetrics, { metrics: points.map((p) => ({ name: p.name, type: p.type ?? ('GAUGE' as const), value: p.value, tags: p.tags, timestamp: at(p.at).toISOString() })) }, key);
    expect(result.data!.recordMetrics.failed).toEqual([]);
  };
  const create = async (input: Record<string, unknown>, key = tenant.adminKey) => app.send(CreateAlertRule, { input }, key);
  const evaluate = (seconds: number) => app.server.deps.alerts.evaluate(at(seconds));
  const stateOf = async (id: string) => (await app.gql(AlertRules, {}, tenant.adminKey)).data!.alertRules.find((r) => r.id === id)!;

  beforeAll(async () => {
    // The webhook receiver below listens on 127.0.0.1: private targets are allowed for it explicitly.
    app = await startApp(engine, { ALERT_EVALUATION_CRON: 'off', WEBHOOK_RETRY_BASE_MS: '1000', WEBHOOK_ALLOW_PRIVATE: 'true' });
    tenant = await app.createTenant();
    await record([{ name: 'cpu', value: 1, tags: { host: 'a' }, at: -7000 }]);
  });
  afterAll(() => app.close());

  test('bad input and roles get their codes, and nothing is stored', async () => {
    const viewer = await app.createKey(tenant.adminKey, 'VIEWER');
    const base = { name: 'r', metric: 'cpu', threshold: 1 };
    expect(codes(await create(base, viewer.key))).toEqual(['FORBIDDEN']);
    expect(codes(await create({ ...base, metric: 'no.such.metric' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await create({ ...base, webhookUrl: 'http://example.com/hook' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await create({ ...base, webhookUrl: 'https://user:pw@example.com/hook' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await create({ ...base, windowSeconds: 10 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await create({ ...base, forSeconds: -1 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await create({ ...base, kind: 'ERROR_RATE' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await create({ ...base, name: '' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await create({ ...base, comparison: 'ABOUT' }))).toEqual(['BAD_USER_INPUT']);
    expect((await app.gql(AlertRules, {}, viewer.key)).data!.alertRules).toEqual([]);
    expect(codes(await app.send(PauseAlertRule, { id: 'not-a-uuid' }, tenant.adminKey))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await app.send(DeleteAlertRule, { id: '00000000-0000-4000-8000-000000000000' }, tenant.adminKey))).toEqual(['NOT_FOUND']);
  });

  test('create, update, pause, resume and delete; a second rule of the same name is refused', async () => {
    const created = (await create({ name: 'cpu high', metric: 'cpu', threshold: 90, labels: { team: 'infra' } })).data!.createAlertRule;
    expect(created.webhookSecret).toBeNull();
    expect(created.rule).toMatchObject({ name: 'cpu high', kind: 'THRESHOLD', aggregation: 'AVG', comparison: 'GT', threshold: 90, windowSeconds: 300, forSeconds: 0, cooldownSeconds: 0, severity: 'WARNING', labels: { team: 'infra' }, paused: false, state: 'OK' });
    expect(codes(await create({ name: 'cpu high', metric: 'cpu', threshold: 1 }))).toEqual(['BAD_USER_INPUT']);
    const id = created.rule.id;
    expect((await app.gql(UpdateAlertRule, { input: { id, threshold: 95, severity: 'CRITICAL' } }, tenant.adminKey)).data!.updateAlertRule).toMatchObject({ threshold: 95, severity: 'CRITICAL', name: 'cpu high' });
    expect((await app.gql(PauseAlertRule, { id }, tenant.adminKey)).data!.pauseAlertRule.paused).toBe(true);
    expect((await app.gql(ResumeAlertRule, { id }, tenant.adminKey)).data!.resumeAlertRule.paused).toBe(false);
    expect((await app.gql(DeleteAlertRule, { id }, tenant.adminKey)).data!.deleteAlertRule).toBe(id);
    expect((await app.gql(AlertRules, {}, tenant.adminKey)).data!.alertRules.map((r) => r.id)).not.toContain(id);
    // Every change is in the audit log, newest first.
    const audited = (await app.gql(AlertAudit, {}, tenant.adminKey)).data!.auditLog.entries.filter((e) => e.target === id).map((e) => e.action);
    expect(audited).toEqual(['ALERT_RULE_DELETED', 'ALERT_RULE_RESUMED', 'ALERT_RULE_PAUSED', 'ALERT_RULE_UPDATED', 'ALERT_RULE_CREATED']);
  });

  test('OK → PENDING → FIRING after `for`, RESOLVED when it stops holding, and cooldown holds back the next firing', async () => {
    // `load` has no points yet: it does not exist.
    expect(codes(await create({ name: 'load high', metric: 'load', threshold: 50 }))).toEqual(['BAD_USER_INPUT']);
    await record([{ name: 'load', value: 80, at: -100 }]);
    const { id } = (await create({ name: 'load high', metric: 'load', threshold: 50, windowSeconds: 300, forSeconds: 60, cooldownSeconds: 600, severity: 'CRITICAL' })).data!.createAlertRule.rule;

    await evaluate(0); // window [-300, 0): avg 80 > 50
    expect(await stateOf(id)).toMatchObject({ state: 'PENDING', lastValue: 80 });
    await evaluate(30);
    expect((await stateOf(id)).state).toBe('PENDING');
    await evaluate(60); // held for 60 s
    expect((await stateOf(id)).state).toBe('FIRING');

    await record([10, 10, 10, 10].map((value, i) => ({ name: 'load', value, at: 100 + i * 10 })));
    await evaluate(200); // window [-100, 200): (80 + 40) / 5 = 24
    expect(await stateOf(id)).toMatchObject({ state: 'RESOLVED', lastValue: 24 });

    await record([{ name: 'load', value: 10, at: 300 }]);
    await evaluate(450); // window [150, 450): 10 does not hold
    expect((await stateOf(id)).state).toBe('RESOLVED');
    await record([{ name: 'load', value: 200, at: 452 }]);
    await evaluate(455); // [155, 455): 10, 200 → 105 holds
    expect((await stateOf(id)).state).toBe('PENDING');
    await evaluate(520); // held 65 s, but it fired at 60: cooldown until 660
    expect((await stateOf(id)).state).toBe('PENDING');
    await record([{ name: 'load', value: 90, at: 650 }]);
    await evaluate(700); // [400, 700): 200, 90 → 145, cooldown over
    expect(await stateOf(id)).toMatchObject({ state: 'FIRING', lastValue: 145 });

    const events = (await app.gql(AlertEvents, { ruleId: id }, tenant.adminKey)).data!.alertEvents;
    expect(events.map((e) => [e.from, e.to, e.at])).toEqual([
      ['PENDING', 'FIRING', at(700).toISOString()],
      ['RESOLVED', 'PENDING', at(455).toISOString()],
      ['FIRING', 'RESOLVED', at(200).toISOString()],
      ['PENDING', 'FIRING', at(60).toISOString()],
      ['OK', 'PENDING', at(0).toISOString()],
    ]);
    expect(events[0]).toMatchObject({ ruleName: 'load high', severity: 'CRITICAL', threshold: 50, value: 145 });
  });

  test('error rate, absence and a metric definition', async () => {
    await record([
      ...Array.from({ length: 7 }, (_, i) => ({ name: 'req', type: 'COUNTER' as const, value: 1, tags: { status: '200' }, at: 1000 + i })),
      ...Array.from({ length: 3 }, (_, i) => ({ name: 'req', type: 'COUNTER' as const, value: 1, tags: { status: '500' }, at: 1010 + i })),
    ]);
    const errorRate = (await create({ name: 'errors', kind: 'ERROR_RATE', metric: 'req', aggregation: 'SUM', errorFilters: [{ key: 'status', equals: '500' }], threshold: 20 })).data!.createAlertRule.rule;
    const absent = (await create({ name: 'req silent', kind: 'ABSENCE', metric: 'req' })).data!.createAlertRule.rule;
    await app.gql(CreateMetricDefinition, { input: { name: 'req.errors.pct', formula: 'sum(req{status="500"}) / sum(req) * 100' } }, tenant.adminKey);
    const viaDefinition = (await create({ name: 'errors via definition', metric: 'req.errors.pct', aggregation: 'LAST', comparison: 'GTE', threshold: 30 })).data!.createAlertRule.rule;

    await app.server.deps.alerts.evaluate(at(1100));
    expect(await stateOf(errorRate.id)).toMatchObject({ state: 'FIRING', lastValue: 30 });
    expect(await stateOf(absent.id)).toMatchObject({ state: 'OK', lastValue: 10 });
    expect(await stateOf(viaDefinition.id)).toMatchObject({ state: 'FIRING', lastValue: 30 });

    await app.server.deps.alerts.evaluate(at(1500)); // no points in [1200, 1500)
    expect(await stateOf(absent.id)).toMatchObject({ state: 'FIRING', lastValue: 0 });
    expect((await stateOf(errorRate.id)).state).toBe('RESOLVED'); // no requests: no rate
  });

  test('a signed webhook is delivered, retried after a failure, and logged; subscribers hear of it', async () => {
    const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    let failures = 1;
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(failures-- > 0 ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const client = createClient({ url: `${app.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${tenant.adminKey}` }, retryAttempts: 0 });
    const live: unknown[] = [];
    const dispose = client.subscribe({ query: print(AlertEventsLive) }, { next: (m) => live.push(m.data), error: () => {}, complete: () => {} });
    try {
      await record([{ name: 'temp', value: 99, at: 2000 }]);
      const created = (await create({ name: 'hot', metric: 'temp', aggregation: 'MAX', threshold: 90, webhookUrl: url, labels: { room: 'b' } })).data!.createAlertRule;
      expect(created.webhookSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
      // The subscription is in place (its listener is added before the live gauge counts it).
      const liveAlertSubscriptions = async () => (await app.server.deps.metrics.liveSubscriptions.get()).values.find((v) => v.labels.field === 'alertEvents')?.value ?? 0;
      await expect.poll(liveAlertSubscriptions).toBe(1);

      await app.server.deps.alerts.evaluate(at(2010)); // OK → FIRING (for 0): one delivery
      await app.server.deps.alerts.deliverWebhooks(at(2010));
      let log = (await app.gql(WebhookDeliveries, { ruleId: created.rule.id }, tenant.adminKey)).data!.webhookDeliveries;
      expect(log).toEqual([{ status: 'PENDING', url, attempts: [{ attempt: 1, statusCode: 500, error: 'HTTP 500' }], deliveredAt: null }]);
      await app.server.deps.alerts.deliverWebhooks(at(2010.5)); // not due yet (1 s backoff)
      expect(received).toHaveLength(1);
      await app.server.deps.alerts.deliverWebhooks(at(2011));
      log = (await app.gql(WebhookDeliveries, { ruleId: created.rule.id }, tenant.adminKey)).data!.webhookDeliveries;
      expect(log[0]).toMatchObject({ status: 'DELIVERED', attempts: [{ attempt: 1, statusCode: 500 }, { attempt: 2, statusCode: 204, error: null }] });

      // Both attempts carried the same body, signed with the secret shown at creation.
      for (const { headers, body } of received) {
        const timestamp = String(headers['x-metrograph-timestamp']);
        expect(headers['x-metrograph-signature']).toBe(signWebhook(created.webhookSecret!, timestamp, body));
        expect(headers['x-metrograph-signature']).not.toBe(signWebhook('another secret', timestamp, body));
      }
      expect(JSON.parse(received[1]!.body)).toMatchObject({ event: { from: 'OK', to: 'FIRING', value: 99, threshold: 90 }, rule: { id: created.rule.id, name: 'hot', metric: 'temp', severity: 'WARNING', labels: { room: 'b' } } });

      await expect.poll(() => live).toContainEqual({ alertEvents: { ruleName: 'hot', severity: 'WARNING', from: 'OK', to: 'FIRING', value: 99, threshold: 90 } });
    } finally {
      dispose();
      await client.dispose();
      hook.close();
    }
  });

  test('tenant B sees none of A’s rules or events and cannot change them', async () => {
    const b = await app.createTenant();
    const rules = (await app.gql(AlertRules, {}, tenant.adminKey)).data!.alertRules;
    expect(rules.length).toBeGreaterThan(0);
    expect((await app.gql(AlertRules, {}, b.adminKey)).data!.alertRules).toEqual([]);
    expect((await app.gql(AlertEvents, {}, b.adminKey)).data!.alertEvents).toEqual([]);
    expect(codes(await app.send(PauseAlertRule, { id: rules[0]!.id }, b.adminKey))).toEqual(['NOT_FOUND']);
    expect(codes(await app.send(DeleteAlertRule, { id: rules[0]!.id }, b.adminKey))).toEqual(['NOT_FOUND']);
    expect((await app.gql(WebhookDeliveries, { ruleId: rules[0]!.id }, b.adminKey)).data!.webhookDeliveries).toEqual([]);
  });
});
