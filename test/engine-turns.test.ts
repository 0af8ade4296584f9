/**
 * Engine turns (src/db/engine-turns.ts): after a job's slice on the embedded engine, the job
 * waits as long as the slice held the engine (at most MAX_TURN_MS) while the engine has users
 * (requests in flight, callers in line), and goes on at once when it has none; on a PostgreSQL
 * server nothing waits.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createEngineUsers, createSliceSizer, engineTurns, MAX_TURN_MS, SLICE_TARGET_MS, type EngineUsers } from '../src/db/engine-turns.js';

describe('engineTurns', () => {
  // Timers only: the turn's setImmediate (reading what arrived during the slice) stays real.
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterEach(() => vi.useRealTimers());

  /** Whether the turn after a slice of `heldMs` has ended once `advanceMs` have passed. */
  async function endedAfter(db: Parameters<typeof engineTurns>[0], heldMs: number, advanceMs: number): Promise<boolean> {
    let ended = false;
    void engineTurns(db)(heldMs).then(() => (ended = true));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await vi.advanceTimersByTimeAsync(advanceMs);
    await new Promise<void>((resolve) => setImmediate(resolve));
    return ended;
  }

  const inFlight = (n: number): EngineUsers => {
    const users = createEngineUsers();
    for (let i = 0; i < n; i++) users.begin();
    return users;
  };

  test.each([
    ['a request in flight: waits as long as the slice held', inFlight(1), 300, 299, false],
    ['a request in flight: then goes on', inFlight(1), 300, 300, true],
    ['a caller in line: waits as long as the slice held', createEngineUsers(() => 1), 300, 299, false],
    ['a long slice: waits at most MAX_TURN_MS', inFlight(3), 5_000, MAX_TURN_MS, true],
    ['no users: goes on at once', createEngineUsers(() => 0), 300, 0, true],
  ])('embedded, %s', async (_, users, heldMs, advanceMs, ended) => {
    expect(await endedAfter({ kind: 'embedded', engineUsers: users }, heldMs, advanceMs)).toBe(ended);
  });

  test('PostgreSQL: never waits', async () => {
    expect(await endedAfter({ kind: 'postgres', engineUsers: inFlight(5) }, 300, 0)).toBe(true);
  });

  test('a request counts from begin until its end is called, once', () => {
    const users = createEngineUsers(() => 2);
    const end = users.begin();
    users.begin();
    expect(users.count).toBe(4);
    end();
    end();
    expect(users.count).toBe(3);
  });
});

describe('createSliceSizer: the next slice from what the last one cost per unit', () => {
  test('grows at most 8 times towards 80 % of the target, cuts to what fits it, keeps a size in between', () => {
    const sizer = createSliceSizer();
    expect(sizer.units).toBe(1);
    sizer.held(10, 1); // 10 ms a unit: 20 would fit 80 %, growth is capped at 8
    expect(sizer.units).toBe(8);
    sizer.held(40, 8); // 5 ms a unit: 40 fit 80 %, under 8 × 8
    expect(sizer.units).toBe(40);
    sizer.held(1_000, 40); // 25 ms a unit: 10 fit the target
    expect(sizer.units).toBe(SLICE_TARGET_MS / 25);
    sizer.held(150, 10); // between half the target and the target: kept
    expect(sizer.units).toBe(10);
    sizer.held(5_000, 10); // a unit alone over the target: one unit, never none
    expect(sizer.units).toBe(1);
    for (let i = 0; i < 10; i++) sizer.held(0, sizer.units);
    expect(sizer.units).toBe(256);
  });

  test('a short last group (the aggregate’s slices ran out) grows from what it used', () => {
    const sizer = createSliceSizer();
    sizer.held(10, 1);
    sizer.held(10, 2); // 2 units of 5 ms: 40 would fit, growth from 2 is capped at 16; never below 8
    expect(sizer.units).toBe(16);
  });
});
