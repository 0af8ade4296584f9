/**
 * Alert events to subscribers: in-process listeners, and with REDIS_URL set a Redis channel, so
 * an event evaluated on one instance reaches subscribers on every instance. Each instance
 * publishes to Redis only, and delivers what it receives from it (its own events included),
 * so every subscriber gets each event once.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export interface AlertEventMessage {
  id: string;
  tenantId: string;
  ruleId: string;
  ruleName: string;
  severity: string;
  labels: Record<string, string>;
  at: string;
  from: string;
  to: string;
  value: number | null;
  threshold: number;
}

type Listener = (event: AlertEventMessage) => void;

export interface AlertBus {
  publish(event: AlertEventMessage): Promise<void>;
  /** Calls `listener` with each event of `tenantId`; returns the function that stops it. */
  subscribe(tenantId: string, listener: Listener): () => void;
  close(): void;
}

const CHANNEL = 'mg:alert-events';

export function createAlertBus(options: { redis?: Redis; log: Logger }): AlertBus {
  const listeners = new Map<string, Set<Listener>>();
  const deliver = (event: AlertEventMessage) => {
    for (const listener of listeners.get(event.tenantId) ?? []) {
      try {
        listener(event);
      } catch (error) {
        options.log.warn({ err: (error as Error).message }, 'alert bus: a listener failed');
      }
    }
  };
  // Its own connection in subscriber mode; it queues SUBSCRIBE until connected and subscribes again after a reconnect.
  const subscriber = options.redis?.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true });
  if (subscriber) {
    subscriber.on('message', (_channel: string, message: string) => deliver(JSON.parse(message) as AlertEventMessage));
    subscriber.on('error', (error: Error) => options.log.warn({ err: error.message }, 'alert bus: redis subscriber error'));
    subscriber.subscribe(CHANNEL).catch((error: Error) => options.log.warn({ err: error.message }, 'alert bus: could not subscribe'));
  }
  return {
    async publish(event) {
      if (!options.redis) return deliver(event);
      try {
        await options.redis.publish(CHANNEL, JSON.stringify(event));
      } catch (error) {
        // Redis is down: at least this instance's subscribers hear of it.
        options.log.warn({ err: (error as Error).message }, 'alert bus: redis publish failed; delivering locally');
        deliver(event);
      }
    },
    subscribe(tenantId, listener) {
      let set = listeners.get(tenantId);
      if (!set) listeners.set(tenantId, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(tenantId);
      };
    },
    close() {
      listeners.clear();
      subscriber?.disconnect();
    },
  };
}
