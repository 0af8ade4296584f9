/**
 * Engine turns (src/db/engine-turns.ts): after a job's slice on the embedded engine, requests in
 * line for its one connection get it for as long as the slice held it (at most a second); with
 * no one in line the job goes on at once; on a PostgreSQL server nothing waits.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { engineTurns, MAX_TURN_MS } from '../src/db/engine-turns.js';

describe('engineTurns', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Whether the turn after a slice of `heldMs` has ended once `advanceMs` have passed. */
  async function endedAfter(db: Parameters<typeof engineTurns>[0], heldMs: number, advanceMs: number): Promise<boolean> {
    let ended = false;
    void engineTurns(db)(heldMs).then(() => (ended = true));
    await vi.advanceTimersByTimeAsync(advanceMs);
    return ended;
  }

  test.each([
    ['embedded, one request in line: waits as long as the slice held', { kind: 'embedded' as const, engineWaiting: () => 1 }, 300, 299, false],
    ['embedded, one request in line: then goes on', { kind: 'embedded' as const, engineWaiting: () => 1 }, 300, 300, true],
    ['embedded, a long slice: waits at most MAX_TURN_MS', { kind: 'embedded' as const, engineWaiting: () => 3 }, 5_000, MAX_TURN_MS, true],
    ['embedded, no one in line: goes on at once', { kind: 'embedded' as const, engineWaiting: () => 0 }, 300, 0, true],
    ['PostgreSQL: never waits', { kind: 'postgres' as const }, 300, 0, true],
  ])('%s', async (_, db, heldMs, advanceMs, ended) => {
    expect(await endedAfter(db, heldMs, advanceMs)).toBe(ended);
  });
});
