/**
 * The answer gate (src/query/answer-gate.ts) exactly: what is admitted when, in which order
 * across tenants, and what is refused with which code. Timers are faked: no test waits.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { GraphQLError } from 'graphql';
import { createAnswerGate, type Release } from '../src/query/answer-gate.js';

const options = { capacity: 10, maxWaiting: 5, maxWaitingPerTenant: 3, waitMs: 5_000 };

/** Admits and records the order in which admissions resolve (or how they are refused). */
function recorder() {
  const log: string[] = [];
  const releases = new Map<string, Release>();
  const gate = createAnswerGate(options);
  const admit = (name: string, tenant: string, weight: number) =>
    gate.admit(tenant, weight).then(
      (release) => {
        log.push(name);
        releases.set(name, release);
      },
      (error: GraphQLError) => log.push(`${name}: ${String(error.extensions.code)} ${String(error.extensions.retryAfter)} ${JSON.stringify(error.extensions.http)}`),
    );
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  return { gate, log, admit, release: (name: string) => releases.get(name)!(), flush };
}

beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
afterEach(() => vi.useRealTimers());

describe('answer gate', () => {
  test('admits while the weights fit, and holds the rest until buckets are given back', async () => {
    const { gate, log, admit, release, flush } = recorder();
    void admit('a', 't1', 4);
    void admit('b', 't2', 6);
    void admit('c', 't3', 1);
    await flush();
    expect(log).toEqual(['a', 'b']);
    expect([gate.held(), gate.waiting()]).toEqual([10, 1]);
    release('a');
    await flush();
    expect(log).toEqual(['a', 'b', 'c']);
    expect([gate.held(), gate.waiting()]).toEqual([7, 0]);
    // Giving back twice does nothing.
    release('a');
    expect(gate.held()).toBe(7);
  });

  test('serves waiting tenants in turn: a tenant with many wide pages does not hold another back behind all of them', async () => {
    const { log, admit, release, flush } = recorder();
    void admit('holder', 'other', 10);
    void admit('a1', 'greedy', 10);
    void admit('a2', 'greedy', 10);
    void admit('a3', 'greedy', 10);
    void admit('b1', 'modest', 10);
    await flush();
    expect(log).toEqual(['holder']);
    for (const name of ['holder', 'a1', 'b1', 'a2']) {
      release(name);
      await flush();
    }
    expect(log).toEqual(['holder', 'a1', 'b1', 'a2', 'a3']);
  });

  test('a request that does not fit is not overtaken by smaller ones behind it', async () => {
    const { log, admit, release, flush } = recorder();
    void admit('holder', 't1', 6);
    void admit('wide', 't2', 8);
    void admit('narrow', 't3', 1);
    await flush();
    // 4 are free, and narrow would fit: it still waits behind wide.
    expect(log).toEqual(['holder']);
    release('holder');
    await flush();
    expect(log).toEqual(['holder', 'wide', 'narrow']);
  });

  test('a weight over the capacity counts as the capacity: it runs alone', async () => {
    const { gate, log, admit, release, flush } = recorder();
    void admit('huge', 't1', 50);
    void admit('small', 't2', 1);
    await flush();
    expect(log).toEqual(['huge']);
    expect(gate.held()).toBe(10);
    release('huge');
    await flush();
    expect(log).toEqual(['huge', 'small']);
  });

  test('a full line refuses at once with RATE_LIMITED, a 429 and Retry-After: per tenant, then in all', async () => {
    const { gate, log, admit, flush } = recorder();
    void admit('holder', 'x', 10);
    for (const n of [1, 2, 3, 4]) void admit(`t1-${n}`, 't1', 1);
    await flush();
    expect(log).toEqual(['holder', 't1-4: RATE_LIMITED 5 {"status":429,"headers":{"retry-after":"5"}}']);
    void admit('t2-1', 't2', 1);
    void admit('t2-2', 't2', 1);
    void admit('t3-1', 't3', 1);
    await flush();
    expect(gate.waiting()).toBe(5);
    expect(log.slice(2)).toEqual(['t3-1: RATE_LIMITED 5 {"status":429,"headers":{"retry-after":"5"}}']);
  });

  test('a request waiting past waitMs is refused, and the one behind it may then go', async () => {
    const { gate, log, admit, flush } = recorder();
    void admit('holder', 't1', 6);
    void admit('wide', 't2', 8);
    await flush();
    vi.advanceTimersByTime(3_000);
    void admit('narrow', 't3', 4);
    await flush();
    expect(log).toEqual(['holder']);
    vi.advanceTimersByTime(2_000);
    await flush();
    // wide gave up after 5 s; narrow, behind it, fits beside holder.
    expect(log).toEqual(['holder', 'wide: RATE_LIMITED 5 {"status":429,"headers":{"retry-after":"5"}}', 'narrow']);
    expect([gate.held(), gate.waiting()]).toEqual([10, 0]);
  });
});
