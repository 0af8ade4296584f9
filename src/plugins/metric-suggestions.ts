/**
 * Every NOT_FOUND for a metric name (they carry `extensions.metric`) gets the nearest name the
 * caller could have meant: "metric 'http.requsts' does not exist in this tenant; did you mean
 * 'http.requests'?" with `extensions.suggestion`. One place for every path that reads a metric
 * by name (queries, reports, latest values, purges), and no cost unless it fails. Subscriptions
 * check their names up front instead (requireKnownMetrics): envelop's subscribe hook is synchronous.
 */
import type { ExecutionResult } from 'graphql';
import type { Kysely } from 'kysely';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import type { Database } from '../db/tables.js';
import { withSuggestion } from '../errors.js';
import { withTenant } from '../db/tenant.js';
import { readerOf } from '../definitions/store-definitions.js';
import { suggestMetricName } from '../query/check-names.js';

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as AsyncIterable<unknown>)?.[Symbol.asyncIterator] === 'function';
}

export function useMetricSuggestions(kysely: Kysely<Database>): Plugin<Context> {
  async function suggest(context: Context, result: ExecutionResult, setResult: (result: ExecutionResult) => void): Promise<void> {
    const principal = context.principal;
    if (!result.errors?.length || principal?.kind !== 'tenant') return;
    let changed = false;
    const errors = await Promise.all(
      result.errors.map(async (error) => {
        const metric = error.extensions?.code === 'NOT_FOUND' ? error.extensions.metric : undefined;
        if (typeof metric !== 'string' || error.extensions.suggestion !== undefined) return error;
        const suggestion = await withTenant(kysely, principal.tenantId, (trx) => suggestMetricName(trx, metric, readerOf(principal))).catch(() => undefined);
        if (!suggestion) return error;
        changed = true;
        return withSuggestion(error, suggestion);
      }),
    );
    if (changed) setResult({ ...result, errors });
  }
  return {
    onExecute: () => ({
      onExecuteDone: ({ args, result, setResult }) => {
        if (!isAsyncIterable(result)) return suggest(args.contextValue, result, setResult);
      },
    }),
  };
}
