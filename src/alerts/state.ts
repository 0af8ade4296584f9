/**
 * The alert rule state machine and the value a rule compares, as pure functions (tested as
 * tables in test/alerts-state.test.ts).
 *
 *   OK / RESOLVED ──holds──▶ PENDING ──holds for `for`, past cooldown──▶ FIRING
 *        ▲                      │                                          │
 *        └──────does not hold───┘ (to OK)           does not hold ─────────┴──▶ RESOLVED
 *
 * With `for` 0 a rule fires on the first evaluation that holds (past cooldown). Cooldown: a
 * rule fires again only when `cooldown` has passed since it last fired; until then it stays
 * PENDING while its condition holds.
 */
import type { Bucket } from '../query/aggregate.js';

export const ALERT_STATES = ['OK', 'PENDING', 'FIRING', 'RESOLVED'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export const COMPARISONS = { GT: '>', GTE: '>=', LT: '<', LTE: '<=', EQ: '==', NEQ: '!=' } as const;
export type Comparison = keyof typeof COMPARISONS;

export const AGGREGATIONS = ['AVG', 'SUM', 'MIN', 'MAX', 'COUNT', 'LAST', 'RATE', 'P50', 'P90', 'P95', 'P99'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export function compare(value: number, comparison: Comparison, threshold: number): boolean {
  switch (comparison) {
    case 'GT':
      return value > threshold;
    case 'GTE':
      return value >= threshold;
    case 'LT':
      return value < threshold;
    case 'LTE':
      return value <= threshold;
    case 'EQ':
      return value === threshold;
    case 'NEQ':
      return value !== threshold;
  }
}

export interface RuleState {
  state: AlertState;
  pendingSince: Date | null;
  lastFiredAt: Date | null;
}

export interface Timing {
  forSeconds: number;
  cooldownSeconds: number;
}

/** The state after an evaluation at `now` in which the condition did or did not hold. */
export function nextState(current: RuleState, holds: boolean, now: Date, timing: Timing): RuleState {
  const cooled = !current.lastFiredAt || now.getTime() - current.lastFiredAt.getTime() >= timing.cooldownSeconds * 1000;
  if (!holds) {
    if (current.state === 'FIRING') return { state: 'RESOLVED', pendingSince: null, lastFiredAt: current.lastFiredAt };
    if (current.state === 'PENDING') return { state: 'OK', pendingSince: null, lastFiredAt: current.lastFiredAt };
    return current;
  }
  if (current.state === 'FIRING') return current;
  const pendingSince = current.state === 'PENDING' && current.pendingSince ? current.pendingSince : now;
  if (cooled && now.getTime() - pendingSince.getTime() >= timing.forSeconds * 1000) return { state: 'FIRING', pendingSince: null, lastFiredAt: now };
  return { state: 'PENDING', pendingSince, lastFiredAt: current.lastFiredAt };
}

/**
 * One value from the buckets an evaluation read. The window is read as one bucket over exactly
 * its range (AggregateQuery.window), so a percentile is that bucket's, merged from every sketch
 * in the window even when it crosses midnight UTC: never an average of percentiles. Counts,
 * sums, extremes and the last value combine exactly over any buckets; a metric definition's
 * value is its newest bucket's.
 */
export function combine(buckets: Bucket[], aggregation: Aggregation, windowSeconds: number): number | null {
  const filled = buckets.filter((b) => b.count > 0 || (b.value !== undefined && b.value !== null));
  if (filled.length === 0) return aggregation === 'COUNT' || aggregation === 'SUM' || aggregation === 'RATE' ? 0 : null;
  const newest = filled.reduce((a, b) => (b.start > a.start ? b : a));
  if (newest.value !== undefined && newest.value !== null) return newest.value;
  const count = filled.reduce((n, b) => n + b.count, 0);
  const sum = filled.reduce((n, b) => n + (b.sum ?? 0), 0);
  switch (aggregation) {
    case 'COUNT':
      return count;
    case 'SUM':
      return sum;
    case 'RATE':
      return sum / windowSeconds;
    case 'AVG':
      return count > 0 ? sum / count : null;
    case 'MIN':
      return Math.min(...filled.map((b) => b.min ?? Infinity));
    case 'MAX':
      return Math.max(...filled.map((b) => b.max ?? -Infinity));
    case 'LAST':
      return newest.last; // null for a COUNTER: it has no level, only increments
    default: {
      // Percentiles cannot be combined after the fact; the window is one bucket.
      if (filled.length > 1) throw new Error('a percentile needs the window as one bucket (AggregateQuery.window)');
      return newest[aggregation.toLowerCase() as 'p50' | 'p90' | 'p95' | 'p99'];
    }
  }
}
