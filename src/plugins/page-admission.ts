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

