/**
 * #16: a bound on the buckets of answers being turned into responses at once, per instance.
 * Two gates of this kind serve an instance (src/deps.ts):
 *
 *   - `pages` (QUERY_PAGE_BUCKETS_IN_FLIGHT): the buckets of pages being completed by graphql-js
 *     (src/plugins/page-admission.ts), admitted for what a page returns;
 *   - `readGate` (QUERY_READ_CELLS_IN_FLIGHT): the series × buckets of answers being read
 *     (answerQuery, src/query/answer-query.ts), admitted for what an answer may read, whatever
 *     page of it is returned: an answer is read whole (up to QUERY_MAX_CELLS) before its page is
 *     cut, so `limit: 1` over dense data holds one page bucket and ~100 000 read buckets.
 *
 * They are apart so that they cannot wait on each other: an operation holding page buckets
 * may wait for read cells; a read holding cells waits for nothing (not for a transaction
 * either: it is admitted before its transaction opens).
 *
 * Why the page gate: a 10 000-bucket page costs graphql-js about 50 000 field results and tens of MB of
 * short-lived objects while it is completed; clients that send such pages side by side grew the
 * heap past what the service may hold (two of them: 576 MB RSS). A request is admitted with a
 * weight (the buckets its pages will hold, known before graphql-js completes them) and holds it
 * until its response is made; at most `capacity` is held at once. Requests that do not fit wait:
 *
 *   - in turn by tenant: the waiting tenants are served round robin, each its oldest request, so a
 *     tenant that queues many wide pages delays another tenant by at most one of its own at a time;
 *   - at most `maxWaitingPerTenant` per tenant and `maxWaiting` in all: past either, or after
 *     `waitMs` in line, the request is refused at once with RATE_LIMITED and a Retry-After.
 *
 * A weight over `capacity` counts as `capacity` (it then runs alone). The order is strict:
 * a request that does not fit is not overtaken by smaller ones behind it (that would starve it).
 *
 *   capacity 10 000; A holds 10 000; B (tenant 1) and C (tenant 2) wait with 6 000 each.
 *   A releases → B is admitted (4 000 free); C waits until B releases.
 */
import { userError } from '../errors.js';
import type { MessageId } from '../messages.js';

export interface AnswerGateOptions {
  /** Buckets (or cells) held at once by admitted requests (QUERY_PAGE_BUCKETS_IN_FLIGHT, QUERY_READ_CELLS_IN_FLIGHT). */
  capacity: number;
  /** Requests waiting in all (QUERY_PAGE_QUEUE). */
  maxWaiting: number;
  /** Requests of one tenant waiting (QUERY_PAGE_QUEUE_PER_TENANT). */
  maxWaitingPerTenant: number;
  /** How long a request may wait before it is refused. */
  waitMs: number;
  /** What a refusal says (params `capacity` and `seconds`): the page gate's by default. */
  busy?: Extract<MessageId, 'query.pagesBusy' | 'query.readsBusy'>;
}

/** Gives back what an admission held; calling it again does nothing. */
export type Release = () => void;

export interface AnswerGate {
  readonly capacity: number;
  /** Resolves once `weight` buckets are held for `tenantId`; rejects with RATE_LIMITED when the line is full or the wait too long. */
  admit(tenantId: string, weight: number): Promise<Release>;
  /** Buckets held now. */
  held(): number;
  /** Requests waiting now. */
  waiting(): number;
}

interface Waiter {
  weight: number;
  admit: (release: Release) => void;
  refuse: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** RATE_LIMITED for a request that could not be admitted: over HTTP a 429 with Retry-After. */
function refusal(message: NonNullable<AnswerGateOptions['busy']>, capacity: number, seconds: number) {
  return userError('RATE_LIMITED', message, { capacity, seconds }, {
    retryAfter: seconds,
    limit: capacity,
    http: { status: 429, headers: { 'retry-after': String(seconds) } },
  });
}

export function createAnswerGate(options: AnswerGateOptions): AnswerGate {
  const { capacity, maxWaiting, maxWaitingPerTenant, waitMs } = options;
  const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
  const busy = () => refusal(options.busy ?? 'query.pagesBusy', capacity, retryAfter);
  let held = 0;
  let waiting = 0;
  /** Waiting requests by tenant, oldest first; the map's order is the round robin's (a served tenant goes to the back). */
  const lines = new Map<string, Waiter[]>();

  const holding = (weight: number): Release => {
    held += weight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held -= weight;
      serve();
    };
  };

  /** Admits waiting requests, a tenant at a time in turn, while the next one fits. */
  function serve(): void {
    for (;;) {
      const next = lines.entries().next();
      if (next.done) return;
      const [tenantId, line] = next.value;
      const waiter = line[0]!;
      if (held + waiter.weight > capacity) return;
      line.shift();
      waiting--;
      lines.delete(tenantId);
      if (line.length > 0) lines.set(tenantId, line);
      clearTimeout(waiter.timer);
      waiter.admit(holding(waiter.weight));
    }
  }

  return {
    capacity,
    admit(tenantId, requested) {
      const weight = Math.min(capacity, Math.max(0, Math.ceil(requested)));
      // Nobody waiting and room now: no queue to jump.
      if (waiting === 0 && held + weight <= capacity) return Promise.resolve(holding(weight));
      const line = lines.get(tenantId) ?? [];
      if (waiting >= maxWaiting || line.length >= maxWaitingPerTenant) return Promise.reject(busy());
      return new Promise<Release>((admit, refuse) => {
        const waiter: Waiter = {
          weight,
          admit,
          refuse,
          timer: setTimeout(() => {
            const index = line.indexOf(waiter);
            if (index < 0) return;
            line.splice(index, 1);
            waiting--;
            if (line.length === 0) lines.delete(tenantId);
            refuse(busy());
            // The head may have been what held the others back.
            serve();
          }, waitMs),
        };
        waiter.timer.unref();
        line.push(waiter);
        waiting++;
        if (!lines.has(tenantId)) lines.set(tenantId, line);
      });
    },
    held: () => held,
    waiting: () => waiting,
  };
}
