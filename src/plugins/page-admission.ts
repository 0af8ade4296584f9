/**
 * #16: a page (metricAggregates, previewMetricDefinition) is admitted through the instance's
 * answer gate (src/query/answer-gate.ts) before graphql-js completes it, and holds its buckets
 * until the operation's result is made. Over HTTP and WebSocket alike: both execute through
 * Yoga's envelop, whose onExecuteDone gives the buckets back.
 *
 * An operation is admitted once, at its first page, so it never waits while it holds buckets
 * (two operations each holding part and waiting for more would wait on each other). It is
 * admitted for that page and a full page (MAX_LIMIT) for every other paged field it names, at
 * most the gate's capacity; a later page that does not fit in what is left is refused with
 * LIMIT_EXCEEDED: the pages of one request hold at most QUERY_PAGE_BUCKETS_IN_FLIGHT buckets.
 *
 * A subscription's events have no onExecuteDone: liveAggregates' first message (its whole
 * answer) is admitted by admitFirstMessage instead, and holds its buckets from before the first
 * evaluation until graphql-ws asks for the next message, that is once the first one is built
 * and sent. Later messages (what changed) are not admitted.
 *
 * What a page is admitted for is what it returns, not what is read to make it: the answer it
 * is cut from is read whole, and that read is admitted apart, in answerQuery, through the read
 * gate (QUERY_READ_CELLS_IN_FLIGHT series × buckets per instance). An operation waits there
 * while it holds its page buckets; a read never waits for page buckets, so the two never wait
 * on each other.
 */
import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { userError } from '../errors.js';
import { MAX_LIMIT } from '../query/aggregate-input.js';
import type { Release } from '../query/answer-gate.js';

/** The root fields whose answers are pages of buckets. */
const PAGED_FIELDS = new Set(['metricAggregates', 'previewMetricDefinition']);

interface Admission {
  /** Resolves once the operation holds `weight` buckets. */
  admitted: Promise<Release>;
  weight: number;
  used: number;
}

const admissions = new WeakMap<object, Admission>();

/** How many paged fields the operation names at its root (through fragments; @skip is not read, so it may overcount). */
function pagedFields(info: GraphQLResolveInfo): number {
  const count = (set: SelectionSetNode | undefined): number =>
    (set?.selections ?? []).reduce((n, node) => {
      if (node.kind === Kind.FIELD) return n + (PAGED_FIELDS.has(node.name.value) ? 1 : 0);
      if (node.kind === Kind.INLINE_FRAGMENT) return n + count(node.selectionSet);
      return n + count(info.fragments[node.name.value]?.selectionSet);
    }, 0);
  return Math.max(1, count(info.operation.selectionSet));
}

/**
 * Waits until this operation may read and complete a page of at most `buckets` (RATE_LIMITED
 * when the gate's line is full or the wait runs past QUERY_TIMEOUT_MS). Call it before the
 * answer is read, outside any transaction (a wait there would hold the engine's connection),
 * with a bound known then (pageBound): the buckets are held until the operation's result is made.
 */
export async function admitPage(ctx: Context, info: GraphQLResolveInfo, buckets: number): Promise<void> {
  const { pages } = ctx.deps;
  let admission = admissions.get(ctx);
  if (!admission) {
    const principal = ctx.principal;
    const tenantId = principal?.kind === 'tenant' ? principal.tenantId : '';
    const weight = Math.min(pages.capacity, buckets + (pagedFields(info) - 1) * MAX_LIMIT);
    admission = { admitted: pages.admit(tenantId, weight), weight, used: buckets };
    // A refusal is this field's error; the operation holds nothing then.
    admission.admitted.catch(() => admissions.delete(ctx));
    admissions.set(ctx, admission);
    await admission.admitted;
    return;
  }
  await admission.admitted;
  if (admission.used + buckets > admission.weight) {
    throw userError('LIMIT_EXCEEDED', 'query.operationPages', { limit: pages.capacity, buckets: admission.used + buckets }, { limit: pages.capacity });
  }
  admission.used += buckets;
}

/** Gives an operation's buckets back once its result is made (its response is then serialised from a finished result). */
export function usePageAdmission(): Plugin {
  return {
    onExecute({ args }) {
      const ctx = args.contextValue as object;
      return {
        onExecuteDone() {
          const admission = admissions.get(ctx);
          if (!admission) return;
          admissions.delete(ctx);
          void admission.admitted.then((release) => release()).catch(() => {});
        },
      };
    },
  };
}

/**
 * Opens a subscription (`open`) once `buckets` are held for its first message, and gives them
 * back when that message has been built and sent: graphql-ws pulls the next event only after
 * it sent the previous one, so the second pull (or the end of the subscription) is the moment.
 * Refused with RATE_LIMITED as a page is, before anything is read; that is an error of the
 * operation, not of the socket.
 */
export async function admitFirstMessage<T>(ctx: Context, buckets: number, open: () => Promise<AsyncIterableIterator<T>>): Promise<AsyncIterableIterator<T>> {
  const principal = ctx.principal;
  const release = await ctx.deps.pages.admit(principal?.kind === 'tenant' ? principal.tenantId : '', buckets);
  let feed: AsyncIterableIterator<T>;
  try {
    feed = await open();
  } catch (error) {
    release();
    throw error;
  }
  let pulls = 0;
  const gated: AsyncIterableIterator<T> = {
    next: () => {
      if (++pulls > 1) release();
      return feed.next();
    },
    return: (value?: unknown) => {
      release();
      return feed.return ? feed.return(value) : Promise.resolve({ done: true as const, value: undefined });
    },
    throw: (error?: unknown) => {
      release();
      return feed.throw ? feed.throw(error) : Promise.reject(error);
    },
    [Symbol.asyncIterator]: () => gated,
  };
  return gated;
}
