/**
 * An ANOMALY alert rule's condition: is the newest whole hour of its metric outside the
 * seasonal band? Hourly because the history is read from the 1 hour aggregates, and whole
 * because part of an hour's sum or count would read as a dip; a rule therefore notices an
 * anomaly when the hour it happened in ends (plus its forSeconds).
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
