/**
 * Background work in turns on the embedded engine. PGlite has one connection (its statements
 * run on a thread of their own, src/db/embedded-thread.js): while a job's statement runs, every
 * request that needs the database waits for it. The aggregate refresh and the late-points job
 * therefore work in short slices, each its own statement (or transaction), and between two
 * slices call `engineTurn(heldMs)`.
 *
 * The turn first gives the event loop one turn (setImmediate), so requests that arrived as the
 * slice ended reach the server's handler and are counted. If the engine has users, it
 * waits as long as the slice held the engine (at most MAX_TURN_MS), so they get the connection
 * (the driver hands it out in arrival order, src/db/embedded.ts) and can finish their next
 * statements too, not only their first. A job then takes at most about half of the engine while
 * requests are being served. With no users it goes on at once: an idle engine does a job's work
 * in the time the work takes, not twice that.
 *
 * Users are requests in flight (the server counts each from its arrival to its response's
 * end) and callers in line for the connection. Counting only the line starved requests (the
 * late arm of bench:ingest fell to 0.16-0.23x, stop 24): between two of its statements a
 * request runs JavaScript, out of the line, and a job that looked then saw no one.
 *
 * On a PostgreSQL server jobs run on their own pooled connections: no turn is needed, and none
 * is taken.
 */
/** The longest wait between two slices: a slice that ran long is not followed by a long idle engine. */
export const MAX_TURN_MS = 1_000;

/** Waits after a slice that held the engine for `heldMs` (embedded engine only). */
export type EngineTurn = (heldMs: number) => Promise<void>;

/** Who is using the embedded engine besides its jobs. */
export interface EngineUsers {
  /** Counts a request from now until the returned function is called (once; later calls do nothing). */
  begin(): () => void;
  /** Requests in flight plus callers in line for the connection. */
  readonly count: number;
}

export function createEngineUsers(waiting: () => number = () => 0): EngineUsers {
  let inFlight = 0;
  return {
    begin() {
      inFlight++;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        inFlight--;
      };
    },
    get count() {
      return inFlight + waiting();
    },
  };
}

/** `db` is a Db (src/db/connect.ts, which imports this module). */
export function engineTurns(db: { kind: 'embedded' | 'postgres'; engineUsers?: EngineUsers }): EngineTurn {
  if (db.kind !== 'embedded') return () => Promise.resolve();
  const users = db.engineUsers;
  return async (heldMs) => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (users && users.count === 0) return;
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(MAX_TURN_MS, Math.max(0, Math.round(heldMs)))));
  };
}

/**
 * How long one slice should hold the engine. A slice's least unit (one window of an hour, or one
 * bucket) costs little where data is sparse, and then a statement's fixed cost dominates: a month
 * of one-point-a-day late points took 360 one-hour statements. So consecutive units are taken
 * together, sized by what the last slice cost per unit: over the target, cut to what fits it;
 * under half of it, grown towards 80 % of it, at most 8 times at once (a unit's cost changes
 * with the data under it, and one guess too large holds the engine for its whole length).
 * 250 ms: a write request waits at most about that long behind a job, a tenth of what a batch
 * of 500 points may take (DESIGN.md §5: under 5 s).
 *
 *   1 unit in 10 ms → 8;  8 in 40 ms → 40;  32 in 1 000 ms → 8;  8 in 150 ms → 8
 */
export const SLICE_TARGET_MS = 250;
const MAX_UNITS = 256;
const MAX_GROWTH = 8;

/** How many consecutive units the next slice takes, from how long the last one (`used` units) held the engine. */
export function createSliceSizer() {
  let units = 1;
  return {
    get units() {
      return units;
    },
    held(ms: number, used = units) {
      const perUnit = Math.max(ms, 1) / Math.max(used, 1);
      if (ms > SLICE_TARGET_MS) units = Math.max(1, Math.floor(SLICE_TARGET_MS / perUnit));
      else if (ms < SLICE_TARGET_MS / 2) units = Math.min(MAX_UNITS, used * MAX_GROWTH, Math.max(units, Math.floor((0.8 * SLICE_TARGET_MS) / perUnit)));
    },
  };
}
