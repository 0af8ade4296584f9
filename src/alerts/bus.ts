/**
 * Alert events to subscribers, on the one event bus (src/realtime/bus.ts): in-process, and with
 * REDIS_URL set over the tenant's Redis channel (`mg:alerts:<tenant>`), so an event evaluated
 * on one instance reaches subscribers on every instance, each once.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { createBus, type BusKind, type TenantBus } from '../realtime/bus.js';

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

/** Subscribers take every event of their tenant (no key) and filter by rule and severity themselves. */
export type AlertBus = TenantBus<AlertEventMessage>;

const ALERT_EVENTS: BusKind<AlertEventMessage, AlertEventMessage> = {
  name: 'alert bus',
  channel: 'mg:alerts:',
  encode: (event) => event,
  decode: (event) => event,
};

export const createAlertBus = (options: { redis?: Redis; log: Logger }): AlertBus => createBus(ALERT_EVENTS, options.log, options.redis);
