/**
 * The one event bus: what happens in a tenant goes to that tenant's live subscribers, on
 * every instance. Two kinds travel on it, each a `BusKind`: committed points (`PointBus`,
 * below) and alert events (src/alerts/bus.ts). One interface, two transports:
 *
 *   in-process  listeners in this process (one instance, or no REDIS_URL)
 *   Redis       the same, and every publish is also sent on the Redis channel of its kind and
 *               tenant (`mg:points:<tenant>`, `mg:alerts:<tenant>`); each instance subscribes to
 *               the channels of the tenants it has listeners for, and delivers what other
 *               instances published
 *
 * A publish goes out as one message (one per committed write and tenant, never one per
 * point). Local listeners get it from this process, not through Redis: a Redis outage never
 * stops delivery inside one instance, and never fails the publisher (publishing is fire and
 * forget, logged). ioredis reconnects and subscribes again by itself when Redis returns.
 *
 * publish() only queues: the fan-out (local listeners, the Redis message) runs on the next
 * turn of the event loop, so the write that committed answers its client first and never
 * waits for subscribers; publishes in the same turn go out in order.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MetricType, Tags } from '../db/tables.js';
import type { StoredPoint } from '../ingest/record-points.js';
import type { Logger } from '../log.js';

export type Listener<T> = (items: readonly T[]) => void;

export interface TenantBus<T> {
  /** Delivers `items` of `tenantId` to every listener of that tenant, on every instance. */
  publish(tenantId: string, items: readonly T[]): void;
  /**
   * Calls `listener` with the items of each publish of `tenantId`: only those whose key is in
   * `keys` (grouped by key: one call per key a publish touched), or all of them when `keys` is
   * null. Returns the function that stops it.
   */
  subscribe(tenantId: string, listener: Listener<T>, keys: readonly string[] | null): () => void;
  /** What is held open, for tests and /metrics: listeners, and Redis channels subscribed. */
  stats(): { listeners: number; channels: number };
  close(): Promise<void>;
}

/** What travels on a bus, and how it crosses Redis. */
export interface BusKind<T, W> {
  /** Names it in log lines. */
  name: string;
  /** Redis channels are `<channel><tenant id>`. */
  channel: string;
  /** The key listeners may ask for (a point's metric); without it, listeners take every item. */
  keyOf?: (item: T) => string;
  /** An item's wire form (JSON) and back; `wireKey` reads the key without building the item. */
  encode(item: T): W;
  decode(wire: W): T;
  wireKey?: (wire: W) => string;
}

/** A committed point as subscribers see it (its series id stays inside the instance that wrote it). */
export type LivePoint = Omit<StoredPoint, 'seriesId'>;
export type PointListener = Listener<LivePoint>;
export type PointBus = TenantBus<LivePoint>;

/** Each point as a row on the wire: smaller and faster than objects. */
type PointWire = [string, string, MetricType, string | null, Tags, number, number];

const POINTS: BusKind<LivePoint, PointWire> = {
  name: 'live',
  channel: 'mg:points:',
  keyOf: (point) => point.metric,
  encode: (p) => [p.id, p.metric, p.type, p.unit, p.tags, p.time.getTime(), p.value],
  decode: ([id, metric, type, unit, tags, time, value]) => ({ id, metric, type, unit, tags, time: new Date(time), value }),
  wireKey: (wire) => wire[1],
};

export const createLocalBus = (log: Logger): PointBus => createBus(POINTS, log);
export const createRedisBus = (redis: Redis, log: Logger): PointBus => createBus(POINTS, log, redis);

/**
 * Listeners by tenant and key; shared by both transports. A publish's items are grouped by key
 * once, and each listener gets only the keys it asked for: with thousands of subscribers in a
 * tenant, a write costs in proportion to those who want its metrics, not to all.
 */
function createListeners<T>(kind: Pick<BusKind<T, never>, 'name' | 'keyOf'>, log: Logger) {
  interface TenantListeners {
    all: Set<Listener<T>>;
    byKey: Map<string, Set<Listener<T>>>;
    size: number;
  }
  const keyOf = kind.keyOf ?? (() => '');
  const byTenant = new Map<string, TenantListeners>();
  const call = (listener: Listener<T>, items: readonly T[]) => {
    try {
      listener(items);
    } catch (error) {
      log.warn({ err: (error as Error).message }, `${kind.name}: a listener failed`);
    }
  };
  return {
    byTenant,
    deliver(tenantId: string, items: readonly T[]) {
      const tenant = byTenant.get(tenantId);
      if (!tenant) return;
      for (const listener of tenant.all) call(listener, items);
      if (tenant.byKey.size === 0) return;
      const groups = new Map<string, T[]>();
      for (const item of items) {
        const key = keyOf(item);
        if (!tenant.byKey.has(key)) continue;
        const group = groups.get(key);
        if (group) group.push(item);
        else groups.set(key, [item]);
      }
      for (const [key, group] of groups) for (const listener of tenant.byKey.get(key) ?? []) call(listener, group);
    },
    /** Adds `listener` (for `keys`, or every item); returns whether it is the tenant's first. */
    add(tenantId: string, listener: Listener<T>, keys: readonly string[] | null): boolean {
      let tenant = byTenant.get(tenantId);
      const first = !tenant;
      if (!tenant) byTenant.set(tenantId, (tenant = { all: new Set(), byKey: new Map(), size: 0 }));
      if (keys === null) tenant.all.add(listener);
      else
        for (const key of new Set(keys)) {
          let set = tenant.byKey.get(key);
          if (!set) tenant.byKey.set(key, (set = new Set()));
          set.add(listener);
        }
      tenant.size++;
      return first;
    },
    /** Removes `listener`; returns whether it was the tenant's last. */
    remove(tenantId: string, listener: Listener<T>, keys: readonly string[] | null): boolean {
      const tenant = byTenant.get(tenantId);
      if (!tenant) return false;
      if (keys === null) tenant.all.delete(listener);
      else
        for (const key of new Set(keys)) {
          const set = tenant.byKey.get(key);
          set?.delete(listener);
          if (set?.size === 0) tenant.byKey.delete(key);
        }
      if (--tenant.size > 0) return false;
      byTenant.delete(tenantId);
      return true;
    },
    /** Whether an item of `key` in `tenantId` has a listener here (before building it from a Redis message). */
    wants(tenantId: string, key: string): boolean {
      const tenant = byTenant.get(tenantId);
      return tenant !== undefined && (tenant.all.size > 0 || tenant.byKey.has(key));
    },
    count: () => [...byTenant.values()].reduce((n, tenant) => n + tenant.size, 0),
  };
}

/** `send(tenantId, items)` for each publish, in order, on the next turn of the event loop. */
function deferred<T>(name: string, send: (tenantId: string, items: readonly T[]) => void, log: Logger) {
  let queue: Array<[string, readonly T[]]> = [];
  const flush = () => {
    const batch = queue;
    queue = [];
    for (const [tenantId, items] of batch) {
      try {
        send(tenantId, items);
      } catch (error) {
        log.warn({ err: (error as Error).message }, `${name}: delivering a publish failed`);
      }
    }
  };
  return (tenantId: string, items: readonly T[]) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push([tenantId, items]);
  };
}

/** Wire form: the publishing instance, then the items. */
interface Message<W> {
  i: string;
  p: W[];
}

/** A bus of `kind`: in-process, or over Redis when `redis` is given. */
export function createBus<T, W>(kind: BusKind<T, W>, log: Logger, redis?: Redis): TenantBus<T> {
  const listeners = createListeners(kind, log);
  if (!redis) {
    return {
      publish: deferred(kind.name, (tenantId, items) => listeners.deliver(tenantId, items), log),
      subscribe(tenantId, listener, keys) {
        listeners.add(tenantId, listener, keys);
        return () => void listeners.remove(tenantId, listener, keys);
      },
      stats: () => ({ listeners: listeners.count(), channels: 0 }),
      async close() {
        listeners.byTenant.clear();
      },
    };
  }
  const instance = randomUUID();
  const channels = new Set<string>();
  const channelOf = (tenantId: string) => `${kind.channel}${tenantId}`;
  // A connection in subscriber mode can do nothing else: its own. It queues SUBSCRIBE while
  // disconnected and subscribes again to every channel after a reconnect.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true });
  let lastWarning = 0;
  const warn = (message: string, error: unknown) => {
    if (Date.now() - lastWarning < 10_000) return;
    lastWarning = Date.now();
    log.warn({ err: (error as Error).message }, `${kind.name}: ${message}`);
  };
  subscriber.on('error', (error) => warn('redis subscriber connection error; other instances’ messages are not delivered until it returns', error));
  subscriber.on('ready', () => {
    if (lastWarning) log.info({}, `${kind.name}: redis subscriber connected; messages from other instances flow again`);
  });
  subscriber.on('message', (channel: string, text: string) => {
    if (!channel.startsWith(kind.channel)) return;
    let message: Message<W>;
    try {
      message = JSON.parse(text) as Message<W>;
    } catch {
      return;
    }
    if (message.i === instance) return; // delivered locally when published
    const tenantId = channel.slice(kind.channel.length);
    // Only the items someone here listens to become objects (a big batch of another metric costs its parse only).
    const items: T[] = [];
    for (const wire of message.p) {
      if (listeners.wants(tenantId, kind.wireKey?.(wire) ?? '')) items.push(kind.decode(wire));
    }
    if (items.length > 0) listeners.deliver(tenantId, items);
  });

  return {
    publish: deferred(kind.name, (tenantId, items) => {
      listeners.deliver(tenantId, items);
      const message: Message<W> = { i: instance, p: items.map(kind.encode) };
      redis.publish(channelOf(tenantId), JSON.stringify(message)).catch((error: unknown) => warn('redis publish failed; other instances miss this message', error));
    }, log),
    subscribe(tenantId, listener, keys) {
      if (listeners.add(tenantId, listener, keys)) {
        const channel = channelOf(tenantId);
        channels.add(channel);
        subscriber.subscribe(channel).catch((error: unknown) => warn('redis subscribe failed', error));
      }
      return () => {
        if (listeners.remove(tenantId, listener, keys)) {
          const channel = channelOf(tenantId);
          channels.delete(channel);
          subscriber.unsubscribe(channel).catch((error: unknown) => warn('redis unsubscribe failed', error));
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
