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
/** A level's bucket width in ms. */
export const levelMs = (level: LevelName): number => LEVELS.find((l) => l.name === level)!.ms;

/** The levels that also keep aggregates per tag group (migrations/0076, src/query/group-levels.ts). */
export const GROUP_LEVELS: readonly LevelName[] = ['1h', '1d'];

/**
 * The continuous aggregates of a level, in the order they refresh: the series' stats and
 * sketches, then (1h, 1d) the tag groups' merged from them.
 */
export function aggregatesOf(level: LevelName): string[] {
  const kinds = GROUP_LEVELS.includes(level) ? ['stats', 'sketch', 'group_stats', 'group_sketch'] : ['stats', 'sketch'];
  return kinds.map((kind) => `${kind}_${level}`);
}

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

/** The oldest instant (ms) each source holds, from a tenant's retention (src/ops/retention.ts). */
export type Horizons = Record<Segment['source'], number>;

const SOURCE_ORDER: Array<Segment['source']> = ['raw', '1m', '5m', '1h', '1d'];

/**
 * Splits [from, to) into segments, each answered exactly by the coarsest source that can:
 * an aggregate level whose buckets divide the granularity and lie wholly inside the range,
 * raw points for the ragged edges. Buckets are aligned to the Unix epoch, as time_bucket's are
 * for these widths.
 *
 *   24 h at HOUR from 10:37:12 → raw [10:37:12, 10:38), 1m [10:38, 10:40), 5m [10:40, 11:00),
 *   1h [11:00, 10:00 next day), 5m …, 1m …, raw [… , 10:37:12)
 *
 * `horizons` (retention) limits each source to the time since its horizon. Where raw points
 * are gone, the range is answered from the finest level left, at that level's resolution
 * (downsampling): the edges take whole buckets of it, so an edge bucket may hold points from
 * just outside the range, and a granularity finer than the level gets one bucket per level
 * bucket. A segment's bounds are then bucket starts: level buckets that start in it.
 *
 *   MINUTE from 60 days ago, raw and 1m kept 30 days → 5m [60 d ago, 30 d ago rounded up to
 *   5 minutes), then as above from there.
 */
export function planSegments(from: Date, to: Date, granularityMs: number, timescale: boolean, horizons?: Horizons): Segment[] {
  if (!timescale) return from < to ? [{ source: 'raw', from, to }] : [];
  const segments: Segment[] = [];
  const divides = (source: LevelName) => levelMs(source) <= granularityMs && granularityMs % levelMs(source) === 0;
  /** Plans [start, end) with `levels` (coarsest first) and `edge` for what they cannot take. */
  const plan = (start: number, end: number, levels: Array<(typeof LEVELS)[number]>, edge: Segment['source']) => {
    const split = (a: number, b: number, index: number) => {
      if (a >= b) return;
      const level = levels[index];
      if (!level) {
        segments.push({ source: edge, from: new Date(a), to: new Date(b) });
        return;
      }
      const inner = [ceilTo(a, level.ms), floorTo(b, level.ms)] as const;
      if (inner[0] >= inner[1]) return split(a, b, index + 1);
      split(a, inner[0], index + 1);
      segments.push({ source: level.name, from: new Date(inner[0]), to: new Date(inner[1]) });
      split(inner[1], b, index + 1);
    };
    split(start, end, 0);
  };

  const start = from.getTime();
  const end = to.getTime();
  // Zones between horizons, oldest first: in each, the same sources are available, and going
  // forward in time only more of them.
  const bounds = [...new Set(Object.values(horizons ?? {}).filter((h) => h > start && h < end))].sort((a, b) => a - b);
  let cursor = start;
  for (const [i, zoneStart] of [start, ...bounds].entries()) {
    const zoneEnd = bounds[i] ?? end;
    if (cursor >= end) break;
    if (cursor >= zoneEnd) continue;
    const available = SOURCE_ORDER.filter((source) => !horizons || horizons[source] <= zoneStart);
    const levels = LEVELS.filter((level) => available.includes(level.name));
    if (available.includes('raw')) {
      plan(cursor, zoneEnd, levels.filter((level) => divides(level.name)), 'raw');
      cursor = zoneEnd;
      continue;
    }
    const finest = levels.at(-1);
    if (!finest) {
      cursor = zoneEnd; // nothing is kept this far back
      continue;
    }
    // Level buckets that start in [from, …): the first is the one the first result bucket
    // holds. The zone gives its last, partial bucket whole to this level; the next zone starts after it.
    const first = cursor === start ? ceilTo(floorTo(start, granularityMs), finest.ms) : cursor;
    const last = zoneEnd === end ? end : ceilTo(zoneEnd, finest.ms);
    const usable = levels.filter((level) => divides(level.name));
    plan(first, last, usable.includes(finest) ? usable : [], finest.name);
    cursor = last;
  }
  return segments;
}

/** The bucket starts covering [from, to) at `granularityMs`, oldest first. */
export function bucketStarts(from: Date, to: Date, granularityMs: number): number[] {
  const starts: number[] = [];
  for (let t = floorTo(from.getTime(), granularityMs); t < to.getTime(); t += granularityMs) starts.push(t);
  return starts;
}
