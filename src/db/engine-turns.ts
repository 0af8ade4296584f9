/**
 * Background work in turns on the embedded engine. PGlite has one connection and runs its
 * statements in this process's event loop, in WASM: while a job's statement runs, every request
 * waits, and so does the loop. The aggregate refresh and the late-points job therefore work in
 * short slices, each its own statement (or transaction), and between two slices call
 * `engineTurn(heldMs)`: it waits as long as the slice held the engine (at most MAX_TURN_MS), so
 * requests that queued meanwhile get the connection (the driver hands it out in arrival order,
 * src/db/embedded.ts) and can finish their next statements too, not only their first. A job then
 * takes at most about half of the engine while requests are waiting, and its work is carried on
 * rather than dropped.
 *
 * On a PostgreSQL server jobs run on their own pooled connections: no turn is needed, and none
 * is taken (the job finishes as soon as before).
 */
import type { EngineKind } from './connect.js';

/** The longest wait between two slices: a slice that ran long is not followed by a long idle engine. */
export const MAX_TURN_MS = 1_000;

/** Waits after a slice that held the engine for `heldMs` (embedded engine only). */
export type EngineTurn = (heldMs: number) => Promise<void>;

export function engineTurns(kind: EngineKind): EngineTurn {
  if (kind !== 'embedded') return () => Promise.resolve();
  return (heldMs) => new Promise((resolve) => setTimeout(resolve, Math.min(MAX_TURN_MS, Math.max(0, Math.round(heldMs)))));
}

/**
 * How long one slice should hold the engine. A slice's least unit (one window of an hour, or one
 * bucket) costs little where data is sparse, and then a statement's fixed cost dominates: a month
 * of one-point-a-day late points took 360 one-hour statements. So consecutive units are taken
 * together, doubling while a slice stays under half of this and halving when one goes over it.
 * 250 ms: a write request waits at most about that long behind a job, a tenth of what a batch
 * of 500 points may take (DESIGN.md §5: under 5 s).
 */
export const SLICE_TARGET_MS = 250;
const MAX_UNITS = 256;

/** How many consecutive units the next slice takes, adapted to how long the last one held the engine. */
export function createSliceSizer() {
  let units = 1;
  return {
    get units() {
      return units;
    },
    held(ms: number) {
      if (ms > SLICE_TARGET_MS) units = Math.max(1, Math.floor(units / 2));
      else if (ms < SLICE_TARGET_MS / 2) units = Math.min(MAX_UNITS, units * 2);
    },
  };
}
