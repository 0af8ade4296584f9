/**
 * The one event bus (src/realtime/bus.ts) carrying alert events: in-process, and between two
 * instances sharing Redis. Each subscriber of the tenant gets each event once, whichever
 * instance published it; another tenant's subscriber gets nothing.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, test } from 'vitest';
import { createAlertBus, type AlertBus, type AlertEventMessage } from '../src/alerts/bus.js';
import { createLogger } from '../src/log.js';
import { TEST_REDIS_URL } from './harness.js';

const log = createLogger('silent');
const event = (tenantId: string, id: string): AlertEventMessage => ({
  id,
  tenantId,
  ruleId: 'rule-1',
  ruleName: 'hot',
  severity: 'WARNING',
  labels: { team: 'web' },
  at: '2026-12-02T06:00:00.000Z',
  from: 'OK',
  to: 'FIRING',
  value: 99,
  threshold: 90,
});

function listen(bus: AlertBus, tenantId: string): { got: AlertEventMessage[]; stop: () => void } {
  const got: AlertEventMessage[] = [];
  const stop = bus.subscribe(tenantId, (events) => got.push(...events), null);
  return { got, stop };
}

describe('alert events on the in-process bus', () => {
  test('a subscriber of the tenant gets each event once, after publish returns; another tenant gets none', async () => {
    const bus = createAlertBus({ log });
    const [a, b] = [randomUUID(), randomUUID()];
    const mine = listen(bus, a);
    const theirs = listen(bus, b);
    bus.publish(a, [event(a, '1')]);
    expect(mine.got).toEqual([]); // delivered on the next turn of the event loop
    bus.publish(a, [event(a, '2')]);
    await expect.poll(() => mine.got.map((e) => e.id)).toEqual(['1', '2']);
    expect(theirs.got).toEqual([]);
    mine.stop();
    bus.publish(a, [event(a, '3')]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(mine.got.map((e) => e.id)).toEqual(['1', '2']);
    expect(bus.stats()).toEqual({ listeners: 1, channels: 0 });
    await bus.close();
  });
});

describe.runIf(TEST_REDIS_URL)('alert events between two instances sharing Redis', () => {
  const connections: Redis[] = [];
  const buses: AlertBus[] = [];
  afterAll(async () => {
    for (const bus of buses) await bus.close();
    for (const redis of connections) redis.disconnect();
  });

  test('subscribers on both instances get each event once, in order; another tenant gets none', async () => {
    const [one, two] = [0, 1].map(() => {
      const redis = new Redis(TEST_REDIS_URL!, { maxRetriesPerRequest: null });
      connections.push(redis);
      const bus = createAlertBus({ redis, log });
      buses.push(bus);
      return bus;
    }) as [AlertBus, AlertBus];
    const [a, b] = [randomUUID(), randomUUID()];
    const here = listen(one, a);
    const there = listen(two, a);
    const otherTenant = listen(two, b);
    // Subscribed on Redis before anything is published: the channel has both instances.
    const probe = connections[0]!;
    await expect.poll(async () => Number(((await probe.pubsub('NUMSUB', `mg:alerts:${a}`)) as [string, number])[1])).toBe(2);

    one.publish(a, [event(a, '1')]);
    one.publish(a, [event(a, '2')]);
    two.publish(a, [event(a, '3')]);
    await expect.poll(() => here.got.length + there.got.length).toBe(6);
    // Each instance's own publishes in order, and each subscriber has every event once.
    expect(here.got.map((e) => e.id).sort()).toEqual(['1', '2', '3']);
    expect(there.got.map((e) => e.id).sort()).toEqual(['1', '2', '3']);
    expect(here.got.filter((e) => e.id !== '3').map((e) => e.id)).toEqual(['1', '2']);
    expect(there.got.filter((e) => e.id !== '3').map((e) => e.id)).toEqual(['1', '2']);
    expect(there.got[0]).toEqual(event(a, there.got[0]!.id));
    expect(otherTenant.got).toEqual([]);
    // Redis keeps a channel's order: had any of 1-3 come twice through it, it would come before 4.
    one.publish(a, [event(a, '4')]);
    await expect.poll(() => [here.got.length, there.got.length]).toEqual([4, 4]);
    expect(one.stats()).toEqual({ listeners: 1, channels: 1 });
    expect(two.stats()).toEqual({ listeners: 2, channels: 2 });
  });
});
