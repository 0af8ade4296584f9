/**
 * `liveAggregates`: the result of an aggregate query kept current as points are committed.
 *
 * One LiveQuery per distinct (tenant, reader, query, percentiles) on this instance, shared by
 * all its subscribers: it listens to the tenant's points on the bus, and when points land
 * that the query can see, it evaluates again only from the earliest bucket they touch, at
 * most once per LIVE_AGGREGATES_INTERVAL_MS, through the same aggregate() as metricAggregates
 * (with the cache bypassed), and pushes the buckets that changed. No timer runs while nothing
 * is written. Each subscriber keeps at most one pending update (newer buckets replace older
 * ones), so a slow client costs one result's worth of memory, whatever the write rate.
 */
import { createHash } from 'node:crypto';
import type { Principal, TenantPrincipal } from '../auth.js';
import type { Tags } from '../db/tables.js';
import { userError } from '../errors.js';
import type { Logger } from '../log.js';
import { readerOf } from '../definitions/store-definitions.js';
import { GRANULARITIES } from '../query/plan.js';
import type { AggregateQuery, Bucket, ResultSeries, TagFilter } from '../query/aggregate.js';
import type { QueryMetadata } from '../query/answer-query.js';
import type { LivePoint, PointBus } from './bus.js';
import { createFeed, latestOnly, type Feed } from './feed.js';

export interface LiveUpdate {
  /** True on a subscriber's first message: `series` is the whole result. */
  initial: boolean;
  granularity: AggregateQuery['granularity'];
  series: ResultSeries[];
  metadata: QueryMetadata;
}

type Evaluate = (principal: TenantPrincipal, query: AggregateQuery, percentiles: boolean) => Promise<{ series: ResultSeries[]; sources: string[]; downsampled?: boolean }>;

export interface LiveAggregates {
  /**
   * A feed of updates for `query` as `principal` sees it: the first is the whole current
   * result. `openEnded`: the range has no `to` and grows with time. Throws what the first
   * evaluation throws (unknown metric, limits), or LIMIT_EXCEEDED over `limit` buckets.
   */
  subscribe(principal: Principal | null, request: { query: AggregateQuery; openEnded: boolean; percentiles: boolean; limit: number }): Promise<Feed<LiveUpdate, LiveUpdate>>;
  stats(): { queries: number; subscribers: number; timers: number };
  close(): void;
}


const seriesKey = (s: Pick<ResultSeries, 'metric' | 'tags'>) => `${s.metric}\u0000${JSON.stringify(s.tags)}`;

/** Whether a point with `tags` is one the query's tag filters select. */
export function matchesTags(tags: Tags, equal: Tags, filters: readonly TagFilter[]): boolean {
  for (const [key, value] of Object.entries(equal)) if (tags[key] !== value) return false;
  for (const filter of filters) {
    const value = tags[filter.key];
    if ('equals' in filter && value !== filter.equals) return false;
    if ('notEquals' in filter && value === filter.notEquals) return false;
    if ('in' in filter && (value === undefined || !filter.in.includes(value))) return false;
    if ('notIn' in filter && value !== undefined && filter.notIn.includes(value)) return false;
    if ('exists' in filter && (value !== undefined) !== filter.exists) return false;
  }
  return true;
}

/** `pending` with `next`'s series and buckets put over it: what a subscriber that missed `pending` needs. */
export function mergeUpdates(pending: LiveUpdate, next: LiveUpdate): LiveUpdate {
  const series = new Map(pending.series.map((s) => [seriesKey(s), { ...s, buckets: new Map(s.buckets.map((b) => [b.start.getTime(), b])) }]));
  for (const s of next.series) {
    const key = seriesKey(s);
    const target = series.get(key) ?? { ...s, buckets: new Map<number, Bucket>() };
    for (const bucket of s.buckets) target.buckets.set(bucket.start.getTime(), bucket);
    series.set(key, target);
  }
  return {
    initial: pending.initial || next.initial,
    granularity: next.granularity,
    series: [...series.values()].map((s) => ({ ...s, buckets: [...s.buckets.values()].sort((a, b) => a.start.getTime() - b.start.getTime()) })),
    metadata: next.metadata,
  };
}

/** The longest wait before a failed evaluation is tried again. */
const MAX_RETRY_MS = 30_000;

export function createLiveAggregates(options: { bus: PointBus; log: Logger; intervalMs: number; evaluate: Evaluate; recordedMetrics: (principal: TenantPrincipal, names: string[]) => Promise<boolean[]> }): LiveAggregates {
  const { bus, log, intervalMs, evaluate } = options;
  const queries = new Map<string, LiveQuery>();

  interface LiveQuery {
    granularity: AggregateQuery['granularity'];
    feeds: Set<Feed<LiveUpdate, LiveUpdate>>;
    ready: Promise<void>;
    state: Map<string, { series: ResultSeries; buckets: Map<number, { bucket: Bucket; json: string }> }>;
    metadata: QueryMetadata;
    timer: NodeJS.Timeout | null;
    dispose(): void;
  }

  function open(key: string, principal: TenantPrincipal, request: { query: AggregateQuery; openEnded: boolean; percentiles: boolean }): LiveQuery {
    const { query, openEnded, percentiles } = request;
    const tenantId = principal.tenantId;
    // Evaluations run with the first subscriber's principal (the key includes who reads), uncached.
    const width = GRANULARITIES[query.granularity];
    let dirtyFrom: number | null = null;
    let running = false;
    let lastRun = 0;
    /** Evaluations failed in a row (a timeout, the read gate's refusal, the database away): each doubles the wait before the range is tried again. */
    let failures = 0;
    let names: Set<string> | null = null; // null: any point may matter (the query names a definition)
    let disposed = false;
    let initialized = false;
    let unsubscribe = () => {};

    const live: LiveQuery = {
      granularity: query.granularity,
      feeds: new Set(),
      state: new Map(),
      metadata: { executionTimeMs: 0, fromCache: false, sources: [], downsampled: false },
      timer: null,
      ready: Promise.resolve(),
      dispose() {
        disposed = true;
        if (live.timer) clearTimeout(live.timer);
        live.timer = null;
        unsubscribe();
        queries.delete(key);
      },
    };

    /** Evaluates [from, to) and folds the answer into the state; returns the series and buckets that changed. */
    async function refresh(from: Date): Promise<ResultSeries[]> {
      const to = openEnded ? new Date(Math.max(Date.now(), from.getTime() + 1)) : query.to;
      const started = performance.now();
      const answer = await evaluate(principal, { ...query, from, to, fill: from.getTime() === query.from.getTime() ? query.fill : 'NONE' }, percentiles);
      live.metadata = { executionTimeMs: performance.now() - started, fromCache: false, sources: answer.sources, downsampled: answer.downsampled ?? false };
      const changed: ResultSeries[] = [];
      for (const series of answer.series) {
        const key = seriesKey(series);
        let entry = live.state.get(key);
        if (!entry) live.state.set(key, (entry = { series: { ...series, buckets: [] }, buckets: new Map() }));
        const buckets: Bucket[] = [];
        for (const bucket of series.buckets) {
          const json = JSON.stringify(bucket);
          const start = bucket.start.getTime();
          if (entry.buckets.get(start)?.json === json) continue;
          entry.buckets.set(start, { bucket, json });
          buckets.push(bucket);
        }
        if (buckets.length > 0) changed.push({ ...series, buckets });
      }
      return changed;
    }

    async function run() {
      live.timer = null;
      if (disposed || dirtyFrom === null) return;
      running = true;
      const from = new Date(Math.max(query.from.getTime(), Math.floor(dirtyFrom / width) * width));
      dirtyFrom = null;
      try {
        const changed = await refresh(from);
        if (changed.length > 0 && !disposed) {
          const update: LiveUpdate = { initial: false, granularity: query.granularity, series: changed, metadata: live.metadata };
          for (const feed of live.feeds) feed.push(update);
        }
        failures = 0;
      } catch (error) {
        // The range is still owed to the subscribers: it is evaluated again, later each time,
        // whether or not more points come (they used to wait for the next points, and with none
        // the update was never sent).
        failures++;
        dirtyFrom = Math.min(dirtyFrom ?? from.getTime(), from.getTime());
        log.warn({ err: (error as Error).message, failures }, 'liveAggregates: evaluation failed; retried');
      } finally {
        running = false;
        lastRun = Date.now();
        if (dirtyFrom !== null) schedule();
      }
    }

    function schedule() {
      if (disposed || running || live.timer) return;
      const wait = failures === 0 ? intervalMs : Math.min(MAX_RETRY_MS, intervalMs * 2 ** failures);
      live.timer = setTimeout(() => void run(), Math.max(0, lastRun + wait - Date.now()));
    }

    const end = openEnded ? Infinity : query.to.getTime();
    const onPoints = (points: readonly LivePoint[]) => {
      for (const point of points) {
        const time = point.time.getTime();
        if (time < query.from.getTime() || time >= end) continue;
        // With a definition in the query any metric may feed it: every point counts.
        if (names && !matchesTags(point.tags, query.tags, query.filters)) continue;
        dirtyFrom = dirtyFrom === null ? time : Math.min(dirtyFrom, time);
      }
      if (dirtyFrom !== null && initialized) schedule();
    };

    live.ready = (async () => {
      const recorded = await options.recordedMetrics(principal, query.metrics);
      names = recorded.every(Boolean) ? new Set(query.metrics) : null;
      if (disposed) return;
      // Listening before the first evaluation: points committed meanwhile mark it dirty.
      unsubscribe = bus.subscribe(tenantId, onPoints, names && [...names]);
      await refresh(query.from);
      lastRun = Date.now();
      initialized = true;
      if (dirtyFrom !== null) schedule();
    })();
    return live;
  }

  const fullUpdate = (live: LiveQuery): LiveUpdate => ({
    initial: true,
    granularity: live.granularity,
    series: [...live.state.values()].map(({ series, buckets }) => ({
      ...series,
      buckets: [...buckets.values()].map((b) => b.bucket).sort((a, b) => a.start.getTime() - b.start.getTime()),
    })),
    metadata: live.metadata,
  });

  return {
    async subscribe(principal, request) {
      if (principal?.kind !== 'tenant') throw userError('UNAUTHENTICATED', 'live.needsTenant');
      const { query, openEnded, percentiles, limit } = request;
      const identity = JSON.stringify([principal.tenantId, readerOf(principal), openEnded ? { ...query, to: null } : query, openEnded, percentiles]);
      const key = createHash('sha256').update(identity).digest('base64url');
      let live = queries.get(key);
      if (!live) queries.set(key, (live = open(key, principal, request)));
      const current = live;
      try {
        await current.ready;
      } catch (error) {
        if (current.feeds.size === 0) current.dispose();
        throw error;
      }
      const first = fullUpdate(current);
      const buckets = first.series.reduce((n, s) => n + s.buckets.length, 0);
      if (buckets > limit) {
        if (current.feeds.size === 0) current.dispose();
        throw userError('LIMIT_EXCEEDED', 'live.overLimit', { buckets, limit }, { limit });
      }
      const feed = createFeed(
        latestOnly(mergeUpdates),
        () => {
          current.feeds.delete(feed);
          if (current.feeds.size === 0) current.dispose();
        },
      );
      current.feeds.add(feed);
      feed.push(first);
      return feed;
    },
    stats() {
      let subscribers = 0;
      let timers = 0;
      for (const live of queries.values()) {
        subscribers += live.feeds.size;
        if (live.timer) timers++;
      }
      return { queries: queries.size, subscribers, timers };
    },
    close() {
      for (const live of [...queries.values()]) {
        for (const feed of [...live.feeds]) void feed.return?.();
        live.dispose();
      }
    },
  };
}
