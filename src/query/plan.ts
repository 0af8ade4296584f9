/**
 * Which data answers an aggregate query. Pure functions: the rules are tested as tables
 * (test/plan.test.ts).
 */

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** The continuous aggregate levels, coarsest first. Each level's width divides the next one's. */
export const LEVELS = [
  { name: '1d', ms: DAY },
  { name: '1h', ms: HOUR },
  { name: '5m', ms: 5 * MINUTE },
  { name: '1m', ms: MINUTE },
] as const;
export type LevelName = (typeof LEVELS)[number]['name'];

export const GRANULARITIES = { MINUTE, FIVE_MINUTES: 5 * MINUTE, HOUR, DAY } as const;
export type Granularity = keyof typeof GRANULARITIES;

/** The fewest buckets an automatic granularity gives over the range. */
export const MIN_AUTO_BUCKETS = 60;

/** The coarsest granularity that still gives at least 60 buckets over [from, to); MINUTE when none does. */
export function autoGranularity(from: Date, to: Date): Granularity {
  const span = to.getTime() - from.getTime();
  for (const name of ['DAY', 'HOUR', 'FIVE_MINUTES'] as const) {
    if (span / GRANULARITIES[name] >= MIN_AUTO_BUCKETS) return name;
  }
  return 'MINUTE';
}

/** A part of the requested range and what reads it: raw points or one aggregate level. */
export interface Segment {
  source: 'raw' | LevelName;
  from: Date;
  to: Date;
}

const floorTo = (ms: number, width: number) => Math.floor(ms / width) * width;
const ceilTo = (ms: number, width: number) => Math.ceil(ms / width) * width;

/**
 * Splits [from, to) into segments, each answered exactly by the coarsest source that can:
 * an aggregate level whose buckets divide the granularity and lie wholly inside the range,
 * raw points for the ragged edges. Buckets are aligned to the Unix epoch, as time_bucket's are
 * for these widths.
 *
 *   24 h at HOUR from 10:37:12 → raw [10:37:12, 10:38), 1m [10:38, 10:40), 5m [10:40, 11:00),
 *   1h [11:00, 10:00 next day), 5m …, 1m …, raw [… , 10:37:12)
 *
 * `oldestRaw` (retention) pushes edges older than it to the finest level that can take them.
 */
export function planSegments(from: Date, to: Date, granularityMs: number, timescale: boolean): Segment[] {
  if (!timescale) return from < to ? [{ source: 'raw', from, to }] : [];
  const levels = LEVELS.filter((level) => level.ms <= granularityMs && granularityMs % level.ms === 0);
  const segments: Segment[] = [];
  const split = (start: number, end: number, index: number) => {
    if (start >= end) return;
    const level = levels[index];
    if (!level) {
      segments.push({ source: 'raw', from: new Date(start), to: new Date(end) });
      return;
    }
    const inner = [ceilTo(start, level.ms), floorTo(end, level.ms)] as const;
    if (inner[0] >= inner[1]) return split(start, end, index + 1);
    split(start, inner[0], index + 1);
    segments.push({ source: level.name, from: new Date(inner[0]), to: new Date(inner[1]) });
    split(inner[1], end, index + 1);
  };
  split(from.getTime(), to.getTime(), 0);
  return segments;
}

/** The bucket starts covering [from, to) at `granularityMs`, oldest first. */
export function bucketStarts(from: Date, to: Date, granularityMs: number): number[] {
  const starts: number[] = [];
  for (let t = floorTo(from.getTime(), granularityMs); t < to.getTime(); t += granularityMs) starts.push(t);
  return starts;
}

/** How many buckets [from, to) spans at `granularityMs`. */
export function bucketCount(from: Date, to: Date, granularityMs: number): number {
  return Math.max(0, Math.ceil((to.getTime() - floorTo(from.getTime(), granularityMs)) / granularityMs));
}

/** A short name for what answered, e.g. `stats_1h+stats_5m+raw`. */
export function describeSources(segments: Segment[], prefix: 'stats' | 'sketch'): string[] {
  const names = new Set(segments.map((s) => (s.source === 'raw' ? 'raw' : `${prefix}_${s.source}`)));
  return [...names];
}
