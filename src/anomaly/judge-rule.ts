/**
 * An ANOMALY alert rule's condition: is the newest whole hour of its metric outside the
 * seasonal band? Hourly because the history is read from the 1 hour aggregates, and whole
 * because part of an hour's sum or count would read as a dip; a rule therefore notices an
 * anomaly when the hour it happened in ends (plus its forSeconds).
 *
 * A verdict cannot change once its hour has settled (no more late points expected), yet the
 * evaluation job asks every tick: createSettledJudge keeps each rule's settled verdict, so a
 * rule reads its weeks of history a few times an hour, not every 15 seconds.
 */
import type { Tags } from '../db/tables.js';
import type { Aggregation } from '../alerts/state.js';
import type { TagFilter } from '../query/aggregate.js';
import { DAY_MS, HOUR_MS, SENSITIVITIES, type Sensitivity } from './baseline.js';
import { findAnomalies, type ReadBuckets } from './find-anomalies.js';

export interface AnomalyRule {
  metric: string;
  tags: Tags;
  filters: TagFilter[];
  aggregation: Aggregation;
  sensitivity: Sensitivity;
  historyWeeks: number;
  minHistoryDays: number;
}

export interface RuleVerdict {
  holds: boolean;
  /** The hour's value; null when it has none. */
  value: number | null;
  /** The score threshold of the rule's sensitivity: what its events report as their threshold. */
  threshold: number;
  /** What the event records: the hour judged and its band. */
  details: { hour: string; state: 'LEARNING' | 'READY' | 'NO_DATA'; expected: number | null; lower: number | null; upper: number | null; score: number | null };
}

export async function judgeNewestHour(read: ReadBuckets, rule: AnomalyRule, now: Date): Promise<RuleVerdict> {
  const to = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
  const threshold = SENSITIVITIES[rule.sensitivity];
  const { series } = await findAnomalies(
    read,
    {
      metric: rule.metric,
      tags: rule.tags,
      filters: rule.filters,
      groupBy: [],
      from: new Date(to - HOUR_MS),
      to: new Date(to),
      granularity: 'HOUR',
      aggregation: rule.aggregation,
      threshold,
      historyWeeks: rule.historyWeeks,
      minHistoryMs: rule.minHistoryDays * DAY_MS,
    },
    now,
  );
  const hour = new Date(to - HOUR_MS).toISOString();
  const judged = series[0];
  const point = judged?.points[0];
  if (!judged || !point) return { holds: false, value: null, threshold, details: { hour, state: 'NO_DATA', expected: null, lower: null, upper: null, score: null } };
  const { value, expected, lower, upper, score, anomaly } = point;
  return { holds: judged.state === 'READY' && anomaly, value, threshold, details: { hour, state: judged.state, expected, lower, upper, score } };
}

/** How long after its hour ends a verdict is read again each tick, to take in late points. */
export const SETTLE_MS = 5 * 60_000;

/**
 * judgeNewestHour with each rule's verdict kept once its hour has been over for SETTLE_MS:
 * keyed by the rule's id, its last change and the hour, so an edited rule or a new hour reads
 * again. `retain` drops the verdicts of rules no longer evaluated.
 */
export function createSettledJudge() {
  const settled = new Map<string, { key: string; verdict: RuleVerdict }>();
  return {
    async judge(read: ReadBuckets, id: string, changedAt: Date, rule: AnomalyRule, now: Date): Promise<RuleVerdict> {
      const hourEnd = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
      const key = `${changedAt.getTime()}:${hourEnd}`;
      const kept = settled.get(id);
      if (kept?.key === key) return kept.verdict;
      const verdict = await judgeNewestHour(read, rule, now);
      if (now.getTime() - hourEnd >= SETTLE_MS) settled.set(id, { key, verdict });
      return verdict;
    },
    retain(ids: ReadonlySet<string>): void {
      for (const id of settled.keys()) if (!ids.has(id)) settled.delete(id);
    },
  };
}
