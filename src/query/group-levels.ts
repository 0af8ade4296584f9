/**
 * Tag-group levels (migrations/0076): the hourly and daily aggregates merged per metric and tag
 * value, so "p99 by region over 30 days" reads one row per region and hour, not one per series
 * and hour. Pure functions; the reader (src/query/read-buckets.ts) reads what they choose.
 *
 * A group row holds every series of its metric with that tag value, so it can stand in for a
 * set of series only when the answer holds all of them. That is so when every tag named by the
 * query — in groupBy, tags and filters — is the same one key K (a condition on K keeps or drops
 * all the series of a value together), or when the query names no tag at all (K = '': every
 * series of the metric is one group). Series without K are read per series, as before.
 *
 *   groupBy [region]                       → key region: one group per (metric, region)
 *   groupBy [], filter region in [eu, us]  → key region: groups eu and us, one answer group
 *   groupBy [], no tags                    → key '': the whole metric
 *   groupBy [region], filter host = a      → none: a group holds other hosts' series too
 */
import type { TagFilter, Tags } from '../db/tables.js';

/** What of an aggregate query decides its groups (src/query/aggregate.ts AggregateQuery). */
type Question = { groupBy: string[]; tags: Tags; filters: TagFilter[] };

/** What the reader needs to read whole tag groups at the group levels. */
export interface GroupReading {
  /** The tag key of the groups ('' : every series of the metric). */
  key: string;
  /** Per group: its metric, its tag value and its stand-in id (negative, never a series id). */
  metricIds: number[];
  values: string[];
  gids: number[];
  /** Every series of the answer: what the other levels and raw points read. */
  series: number[];
  /** Series without the key: read per series at the group levels too. */
  ungrouped: number[];
}

/** The one tag key a query's groups can be read by, or null when whole groups would not answer it. */
export function groupKeyOf(query: Question): string | null {
  if (query.groupBy.length > 1) return null;
  const keys = new Set([...query.groupBy, ...Object.keys(query.tags), ...query.filters.map((f) => f.key)]);
  if (keys.size === 0) return '';
  return keys.size === 1 ? [...keys][0]! : null;
}

/**
 * The groups standing in for `series` (each with the answer group `grps[i]` it belongs to),
 * and the selection's extra ids and answer groups for them. Null when the query has no group key.
 */
export function groupReading(
  query: Question,
  series: ReadonlyArray<{ id: number; metricId: number; tags: Tags }>,
  grps: readonly number[],
): { reading: GroupReading; ids: number[]; grps: number[] } | null {
  const key = groupKeyOf(query);
  if (key === null || series.length === 0) return null;
  const reading: GroupReading = { key, metricIds: [], values: [], gids: [], series: series.map((s) => s.id), ungrouped: [] };
  const extra = { ids: [] as number[], grps: [] as number[] };
  const seen = new Map<string, number>();
  series.forEach((s, i) => {
    const value = key === '' ? '' : s.tags[key];
    if (value === undefined) {
      reading.ungrouped.push(s.id);
      return;
    }
    const name = `${s.metricId}\u0000${value}`;
    if (seen.has(name)) return;
    const gid = -(seen.size + 1);
    seen.set(name, gid);
    reading.metricIds.push(s.metricId);
    reading.values.push(value);
    reading.gids.push(gid);
    extra.ids.push(gid);
    extra.grps.push(grps[i]!);
  });
  return { reading, ...extra };
}
