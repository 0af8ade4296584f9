/**
 * Alert evaluation and webhook delivery: two scheduled jobs, each once per tick across
 * instances (job_runs), as the owner over every tenant's rules; each rule's query runs as the
 * application role in its tenant, with the role its creator had (so a PRIVATE definition
 * reads as it does for them), through the same aggregate() as metricAggregates, uncached.
 *
 * A state change is one transaction: the rule's new state, its alert_events row and, with a
 * webhook, its pending delivery. Events then go to subscribers (alert bus). Webhooks are sent
 * by the other job, so a slow or failing endpoint never holds up evaluation.
 */
import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { TenantPrincipal } from '../auth.js';
import type { Db } from '../db/connect.js';
import type { Env } from '../env.js';
import type { AlertRuleRow, Database } from '../db/tables.js';
import type { Logger } from '../log.js';
import type { AggregateQuery, AggregateResult, TagFilter } from '../query/aggregate.js';
import { createSettledJudge, type RuleVerdict } from '../anomaly/judge-rule.js';
import type { AlertBus } from './bus.js';
import { postWebhook, RefusedTarget } from './webhook-target.js';
import { combine, compare, nextState, type Aggregation, type AlertState, type Comparison } from './state.js';

/** Answers `query` as `principal` would see it, bypassing the cache (server.ts gives aggregate() with the full deps). */
type ReadAs = (principal: TenantPrincipal, requestId: string, query: AggregateQuery, percentiles: boolean) => Promise<AggregateResult>;

const PERCENTILES = new Set(['P50', 'P90', 'P95', 'P99']);

export interface Alerts {
  /** Evaluates every active rule at `now`; returns how many changed state. */
  evaluate(now: Date): Promise<number>;
  /** Sends the webhook deliveries due at `now`; returns how many were attempted. */
  deliverWebhooks(now: Date): Promise<number>;
}

/** The body a webhook receives, and what its signature covers. */
export interface WebhookBody {
  event: { id: number; at: string; from: AlertState; to: AlertState; value: number | null; threshold: number; anomaly?: RuleVerdict['details'] };
  rule: { id: string; name: string; kind: string; metric: string; severity: string; labels: Record<string, string> };
}

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, the X-Metrograph-Signature header. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function createAlerts(deps: { db: Db; env: Env; log: Logger } & { bus: AlertBus; readAs: ReadAs; fetch?: typeof fetch }): Alerts {
  const { env, log } = deps;
  // The owner's connection: evaluation acts for every tenant's rules (an owner-level path).
  const db: Kysely<Database> = deps.db.kysely;
  const owner = db;
  const send = deps.fetch ?? fetch;

  const anomalies = createSettledJudge();
  const creatorOf = (rule: AlertRuleRow): TenantPrincipal => ({ kind: 'tenant', tenantId: rule.tenant_id, role: rule.created_role, keyId: rule.created_key_id, via: 'api_key' });

  /** An ANOMALY rule's verdict on the newest whole hour, read as its creator. */
  function judgeAnomaly(rule: AlertRuleRow, now: Date): Promise<RuleVerdict> {
    const creator = creatorOf(rule);
    const read = (query: AggregateQuery, percentiles: boolean) => deps.readAs(creator, `alert:${rule.id}`, query, percentiles);
    const settings = { sensitivity: rule.sensitivity, historyWeeks: rule.history_weeks, minHistoryDays: rule.min_history_days };
    return anomalies.judge(read, rule.id, rule.updated_at, { metric: rule.metric, tags: rule.tags, filters: rule.filters as TagFilter[], aggregation: rule.aggregation as Aggregation, ...settings }, now);
  }

  /** The value a rule compares at `now`, read as its creator. */
  async function valueOf(rule: AlertRuleRow, now: Date): Promise<number | null> {
    const creator = creatorOf(rule);
    const window = rule.window_seconds;
    const base: AggregateQuery = {
      metrics: [rule.metric],
      from: new Date(now.getTime() - window * 1000),
      to: now,
      // The window as one bucket over exactly [from, to): its percentiles merge every sketch in it.
      granularity: 'DAY',
      window: true,
      tags: rule.tags,
      filters: rule.filters as TagFilter[],
      groupBy: [],
      fill: 'NONE',
    };
    const aggregation = rule.aggregation as Aggregation;
    const read = async (query: AggregateQuery, how: Aggregation) => combine((await deps.readAs(creator, `alert:${rule.id}`, query, PERCENTILES.has(how))).series.flatMap((s) => s.buckets), how, window);
    if (rule.kind === 'ABSENCE') return read(base, 'COUNT');
    if (rule.kind === 'ERROR_RATE') {
      const total = await read(base, aggregation);
      const errors = await read({ ...base, filters: [...base.filters, ...(rule.error_filters as TagFilter[])] }, aggregation);
      return total === null || total === 0 || errors === null ? null : (100 * errors) / total;
    }
    return read(base, aggregation);
  }

  async function evaluateRule(rule: AlertRuleRow, now: Date): Promise<boolean> {
    const anomaly = rule.kind === 'ANOMALY' ? await judgeAnomaly(rule, now) : null;
    const value = anomaly ? anomaly.value : await valueOf(rule, now);
    const holds = anomaly ? anomaly.holds : rule.kind === 'ABSENCE' ? value === 0 : value !== null && compare(value, rule.comparison as Comparison, rule.threshold);
    const threshold = anomaly ? anomaly.threshold : rule.threshold;
    const current = { state: rule.state, pendingSince: rule.pending_since, lastFiredAt: rule.last_fired_at };
    const next = nextState(current, holds, now, { forSeconds: rule.for_seconds, cooldownSeconds: rule.cooldown_seconds });
    const changed = next.state !== current.state;
    const event = await owner.transaction().execute(async (trx) => {
      await trx
        .updateTable('alert_rules')
        .set({ state: next.state, pending_since: next.pendingSince, last_fired_at: next.lastFiredAt, last_value: value, last_evaluated_at: now })
        .where('id', '=', rule.id)
        .execute();
      if (!changed) return null;
      const row = await trx
        .insertInto('alert_events')
        .values({ tenant_id: rule.tenant_id, rule_id: rule.id, at: now, from_state: current.state, to_state: next.state, value, threshold, details: JSON.stringify({ kind: rule.kind, aggregation: rule.aggregation, windowSeconds: rule.window_seconds, ...(anomaly ? { anomaly: anomaly.details } : {}) }) })
        .returning(['id'])
        .executeTakeFirstOrThrow();
      // Webhooks hear of what needs a human: firing and resolution, not every PENDING.
      if (rule.webhook_url && (next.state === 'FIRING' || next.state === 'RESOLVED')) {
        await trx.insertInto('webhook_deliveries').values({ tenant_id: rule.tenant_id, event_id: row.id, rule_id: rule.id, url: rule.webhook_url, next_attempt_at: now }).execute();
      }
      return row;
    });
    if (event) {
      deps.bus.publish(rule.tenant_id, [{
        id: String(event.id),
        tenantId: rule.tenant_id,
        ruleId: rule.id,
        ruleName: rule.name,
        severity: rule.severity,
        labels: rule.labels,
        at: now.toISOString(),
        from: current.state,
        to: next.state,
        value,
        threshold,
      }]);
    }
    return changed;
  }

  return {
    async evaluate(now) {
      const rules = await owner.selectFrom('alert_rules').selectAll().where('paused', '=', false).orderBy('id').execute();
      anomalies.retain(new Set(rules.map((r) => r.id)));
      let changed = 0;
      for (const rule of rules) {
        try {
          if (await evaluateRule(rule, now)) changed++;
        } catch (error) {
          // One rule's failure (a definition deleted since, a timeout) never stops the others.
          log.warn({ ruleId: rule.id, tenantId: rule.tenant_id, err: (error as Error).message }, 'alerts: rule evaluation failed');
        }
      }
      return changed;
    },

    async deliverWebhooks(now) {
      const due = await owner
        .selectFrom('webhook_deliveries as d')
        .innerJoin('alert_events as e', 'e.id', 'd.event_id')
        .innerJoin('alert_rules as r', 'r.id', 'd.rule_id')
        .select(['d.id', 'd.tenant_id', 'd.url', 'd.attempts', 'r.webhook_secret', 'r.id as rule_id', 'r.name', 'r.kind', 'r.metric', 'r.severity', 'r.labels', 'e.id as event_id', 'e.at', 'e.from_state', 'e.to_state', 'e.value', 'e.threshold', 'e.details'])
        .where('d.status', '=', 'PENDING')
        .where('d.next_attempt_at', '<=', now)
        .orderBy('d.next_attempt_at')
        .limit(50)
        .execute();
      await Promise.all(
        due.map(async (d) => {
          // ANOMALY events carry the hour judged and its band (threshold is then the score's).
          const anomaly = (d.details as { anomaly?: RuleVerdict['details'] }).anomaly;
          const body: WebhookBody = {
            event: { id: d.event_id, at: d.at.toISOString(), from: d.from_state as AlertState, to: d.to_state as AlertState, value: d.value, threshold: d.threshold, ...(anomaly ? { anomaly } : {}) },
            rule: { id: d.rule_id, name: d.name, kind: d.kind, metric: d.metric, severity: d.severity, labels: d.labels },
          };
          const text = JSON.stringify(body);
          const timestamp = String(Math.floor(now.getTime() / 1000));
          const attempt = d.attempts + 1;
          const started = performance.now();
          let status: number | null = null;
          let error: string | null = null;
          const headers = { 'content-type': 'application/json', 'x-metrograph-timestamp': timestamp, 'x-metrograph-signature': signWebhook(d.webhook_secret ?? '', timestamp, text), 'x-metrograph-delivery': String(d.id) };
          try {
            if (deps.fetch) {
              const response = await send(d.url, { method: 'POST', headers, body: text, redirect: 'manual', signal: AbortSignal.timeout(env.WEBHOOK_TIMEOUT_MS) });
              status = response.status;
              await response.body?.cancel();
            } else {
              // The address is checked after DNS and pinned for the connection (src/alerts/webhook-target.ts).
              status = await postWebhook(d.url, { headers, body: text, timeoutMs: env.WEBHOOK_TIMEOUT_MS, allowPrivate: env.WEBHOOK_ALLOW_PRIVATE });
            }
            if (status === null || status < 200 || status >= 300) error = `HTTP ${status}`;
          } catch (caught) {
            // Coarse on purpose: the delivery log is readable by every role of the tenant.
            error = caught instanceof RefusedTarget || (caught as Error).message === 'timed out' ? (caught as Error).message : 'transport error';
            log.debug({ deliveryId: d.id, err: ((caught as Error).cause as Error | undefined)?.message ?? (caught as Error).message }, 'alerts: webhook transport error');
          }
          const delivered = error === null;
          const last = !delivered && attempt >= env.WEBHOOK_MAX_ATTEMPTS;
          await owner.transaction().execute(async (trx) => {
            await trx.insertInto('webhook_attempts').values({ tenant_id: d.tenant_id, delivery_id: d.id, attempt, status_code: status, error, duration_ms: performance.now() - started }).execute();
            await trx
              .updateTable('webhook_deliveries')
              .set({
                attempts: attempt,
                status: delivered ? 'DELIVERED' : last ? 'FAILED' : 'PENDING',
                last_status_code: status,
                last_error: error,
                delivered_at: delivered ? now : null,
                // Exponential backoff: base, 2×base, 4×base, …
                next_attempt_at: new Date(now.getTime() + env.WEBHOOK_RETRY_BASE_MS * 2 ** (attempt - 1)),
              })
              .where('id', '=', d.id)
              .execute();
          });
          if (!delivered) log.warn({ deliveryId: d.id, attempt, err: error }, last ? 'alerts: webhook delivery failed for good' : 'alerts: webhook delivery failed; will retry');
        }),
      );
      return due.length;
    },
  };
}

