/**
 * Committed points to live subscribers, per tenant: one interface, two implementations.
 *
 *   in-process  listeners in this process (one instance, or no REDIS_URL)
 *   Redis       the same, and every write is also published on the Redis channel of its tenant
 *               (`mg:points:<tenant>`); each instance subscribes to the channels of the tenants
 *               it has listeners for, and delivers what other instances published
 *
 * A write's points go out as one message (one publish per committed write and tenant, never
 * one per point). Local listeners get them from this process, not through Redis: a Redis outage
 * never stops delivery inside one instance, and never fails a write (publishing is fire and
 * forget, logged). ioredis reconnects and subscribes again by itself when Redis returns.
 *
 * publish() only queues: the fan-out (local listeners, the Redis message) runs on the next
 * turn of the event loop, so the write that committed answers its client first and never
 * waits for subscribers; writes published in the same turn go out in order.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MetricType, Tags } from '../db/tables.js';
import type { StoredPoint } from '../ingest/record-points.js';
import type { Logger } from '../log.js';

/** A committed point as subscribers see it (its series id stays inside the instance that wrote it). */
export type LivePoint = Omit<StoredPoint, 'seriesId'>;

export type PointListener = (points: readonly LivePoint[]) => void;

export interface PointBus {
  /** Delivers one committed write's points of `tenantId` to every listener of that tenant, on every instance. */
  publish(tenantId: string, points: readonly LivePoint[]): void;
  /**
   * Calls `listener` with the points of each write of `tenantId`: only those of `metrics`
   * (grouped by metric: one call per metric a write touched), or all of them when `metrics`
   * is null. Returns the function that stops it.
   */
  subscribe(tenantId: string, listener: PointListener, metrics: readonly string[] | null): () => void;
  /** What is held open, for tests and /metrics: listeners, and Redis channels subscribed. */
  stats(): { listeners: number; channels: number };
  close(): Promise<void>;
}

/**
 * Listeners by tenant and metric; shared by both implementations. A write's points are grouped
 * by metric once, and each listener gets only the metrics it asked for: with thousands of
 * subscribers in a tenant, a write costs in proportion to those who want it, not to all.
 */
function createListeners(log: Logger) {
  interface TenantListeners {
    all: Set<PointListener>;
    byMetric: Map<string, Set<PointListener>>;
    size: number;
  }
  const byTenant = new Map<string, TenantListeners>();
  const call = (listener: PointListener, points: readonly LivePoint[]) => {
    try {
      listener(points);
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'live: a listener failed');
    }
  };
  return {
    byTenant,
    deliver(tenantId: string, points: readonly LivePoint[]) {
      const tenant = byTenant.get(tenantId);
      if (!tenant) return;
      for (const listener of tenant.all) call(listener, points);
      if (tenant.byMetric.size === 0) return;
      const groups = new Map<string, LivePoint[]>();
      for (const point of points) {
        if (!tenant.byMetric.has(point.metric)) continue;
        const group = groups.get(point.metric);
        if (group) group.push(point);
        else groups.set(point.metric, [point]);
      }
      for (const [metric, group] of groups) for (const listener of tenant.byMetric.get(metric) ?? []) call(listener, group);
    },
    /** Adds `listener` (for `metrics`, or every point); returns whether it is the tenant's first. */
    add(tenantId: string, listener: PointListener, metrics: readonly string[] | null): boolean {
      let tenant = byTenant.get(tenantId);
      const first = !tenant;
      if (!tenant) byTenant.set(tenantId, (tenant = { all: new Set(), byMetric: new Map(), size: 0 }));
      if (metrics === null) tenant.all.add(listener);
      else
        for (const metric of new Set(metrics)) {
          let set = tenant.byMetric.get(metric);
          if (!set) tenant.byMetric.set(metric, (set = new Set()));
          set.add(listener);
        }
      tenant.size++;
      return first;
    },
    /** Removes `listener`; returns whether it was the tenant's last. */
    remove(tenantId: string, listener: PointListener, metrics: readonly string[] | null): boolean {
      const tenant = byTenant.get(tenantId);
      if (!tenant) return false;
      if (metrics === null) tenant.all.delete(listener);
      else
        for (const metric of new Set(metrics)) {
          const set = tenant.byMetric.get(metric);
          set?.delete(listener);
          if (set?.size === 0) tenant.byMetric.delete(metric);
        }
      if (--tenant.size > 0) return false;
      byTenant.delete(tenantId);
      return true;
    },
    /** Whether a point of `metric` in `tenantId` has a listener here (before building it from a Redis message). */
    wants(tenantId: string, metric: string): boolean {
      const tenant = byTenant.get(tenantId);
      return tenant !== undefined && (tenant.all.size > 0 || tenant.byMetric.has(metric));
    },
    count: () => [...byTenant.values()].reduce((n, tenant) => n + tenant.size, 0),
  };
}

/** `send(tenantId, points)` for each publish, in order, on the next turn of the event loop. */
function deferred(send: (tenantId: string, points: readonly LivePoint[]) => void, log: Logger) {
  let queue: Array<[string, readonly LivePoint[]]> = [];
  const flush = () => {
    const batch = queue;
    queue = [];
    for (const [tenantId, points] of batch) {
      try {
        send(tenantId, points);
      } catch (error) {
        log.warn({ err: (error as Error).message }, 'live: delivering a write failed');
      }
    }
  };
  return (tenantId: string, points: readonly LivePoint[]) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push([tenantId, points]);
  };
}

export function createLocalBus(log: Logger): PointBus {
  const listeners = createListeners(log);
  return {
    publish: deferred((tenantId, points) => listeners.deliver(tenantId, points), log),
    subscribe(tenantId, listener, metrics) {
      listeners.add(tenantId, listener, metrics);
      return () => void listeners.remove(tenantId, listener, metrics);
    },
    stats: () => ({ listeners: listeners.count(), channels: 0 }),
    async close() {
      listeners.byTenant.clear();
    },
  };
}

const channelOf = (tenantId: string) => `mg:points:${tenantId}`;

/** Wire form: the publishing instance, then each point as a row (smaller and faster than objects). */
interface Message {
  i: string;
  p: Array<[string, string, MetricType, string | null, Tags, number, number]>;
}

export function createRedisBus(redis: Redis, log: Logger): PointBus {
  const instance = randomUUID();
  const listeners = createListeners(log);
  const channels = new Set<string>();
  // A connection in subscriber mode can do nothing else: its own. It queues SUBSCRIBE while
  // disconnected and subscribes again to every channel after a reconnect.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true });
  let lastWarning = 0;
  const warn = (message: string, error: unknown) => {
    if (Date.now() - lastWarning < 10_000) return;
    lastWarning = Date.now();
    log.warn({ err: (error as Error).message }, message);
  };
  subscriber.on('error', (error) => warn('live: redis subscriber connection error; other instances’ points are not delivered until it returns', error));
  subscriber.on('ready', () => {
    if (lastWarning) log.info({}, 'live: redis subscriber connected; points from other instances flow again');
  });
  subscriber.on('message', (channel: string, text: string) => {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (message.i === instance) return; // delivered locally when published
    const tenantId = channel.slice('mg:points:'.length);
    // Only the points someone here listens to become objects (a big batch of another metric costs its parse only).
    const points: LivePoint[] = [];
    for (const [id, metric, type, unit, tags, time, value] of message.p) {
      if (listeners.wants(tenantId, metric)) points.push({ id, metric, type, unit, tags, time: new Date(time), value });
    }
    if (points.length > 0) listeners.deliver(tenantId, points);
  });

  return {
    publish: deferred((tenantId, points) => {
      listeners.deliver(tenantId, points);
      const message: Message = { i: instance, p: points.map((p) => [p.id, p.metric, p.type, p.unit, p.tags, p.time.getTime(), p.value]) };
      redis.publish(channelOf(tenantId), JSON.stringify(message)).catch((error: unknown) => warn('live: redis publish failed; other instances miss these points', error));
    }, log),
    subscribe(tenantId, listener, metrics) {
      if (listeners.add(tenantId, listener, metrics)) {
        const channel = channelOf(tenantId);
        channels.add(channel);
        subscriber.subscribe(channel).catch((error: unknown) => warn('live: redis subscribe failed', error));
      }
      return () => {
        if (listeners.remove(tenantId, listener, metrics)) {
          const channel = channelOf(tenantId);
          channels.delete(channel);
          subscriber.unsubscribe(channel).catch((error: unknown) => warn('live: redis unsubscribe failed', error));
        }
      };
    },
    stats: () => ({ listeners: listeners.count(), channels: channels.size }),
    async close() {
      listeners.byTenant.clear();
      channels.clear();
      subscriber.disconnect();
    },
  };
}
