/**
 * A Yoga plugin that counts, times and logs every GraphQL operation, over HTTP and over
 * WebSocket alike (graphql-ws goes through yoga.getEnveloped, so the same hooks run).
 */
import { GraphQLError, Kind, type DocumentNode, type ExecutionResult, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import type { Logger } from '../log.js';
import type { ServiceMetrics } from './metrics.js';

/** More root fields than this in one operation are labelled `<type> (several)`, to bound the label's values. */
const MAX_FIELDS_IN_LABEL = 3;

/** `query metricAggregates`, `mutation recordMetric+recordMetrics`: the type and root field names (not aliases). */
export function operationLabel(document: DocumentNode, operationName?: string | null): string {
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
  );
  if (!operation) return 'unknown';
  const fields = [...new Set(operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : [])))].sort();
  if (fields.length === 0) return operation.operation;
  return fields.length > MAX_FIELDS_IN_LABEL ? `${operation.operation} (several)` : `${operation.operation} ${fields.join('+')}`;
}

/** `ok`, or the code of the first error (errors without one are masked as INTERNAL). */
export function outcomeOf(result: ExecutionResult): string {
  const first = result.errors?.[0];
  if (!first) return 'ok';
  const code = (first instanceof GraphQLError ? first.extensions?.code : (first as { extensions?: { code?: unknown } }).extensions?.code) ?? 'INTERNAL';
  return String(code);
}

export function useServiceMetrics(metrics: ServiceMetrics, log: Logger): Plugin<Context> {
  return {
    onExecute({ args }) {
      const operation = operationLabel(args.document, args.operationName);
      const started = performance.now();
      return {
        onExecuteDone({ result }) {
          // Incremental delivery (@defer/@stream) is not enabled; a plain result is all we get.
          if (Symbol.asyncIterator in result) return;
          const outcome = outcomeOf(result);
          const seconds = (performance.now() - started) / 1000;
          metrics.graphqlOperations.inc({ operation, outcome });
          metrics.graphqlDuration.observe({ operation }, seconds);
          const ctx = args.contextValue;
          const principal = ctx.principal;
          log.info(
            {
              requestId: ctx.requestId,
              operation,
              operationName: args.operationName ?? null,
              outcome,
              durationMs: Math.round(seconds * 1000 * 10) / 10,
              tenantId: principal?.kind === 'tenant' ? principal.tenantId : null,
              keyId: principal?.kind === 'tenant' ? principal.keyId : null,
            },
            'graphql operation',
          );
        },
      };
    },
    onSubscribe({ args }) {
      const operation = operationLabel(args.document, args.operationName);
      const field = operation.replace(/^subscription /, '');
      const ctx = args.contextValue;
      return {
        onSubscribeResult({ result }) {
          if (!(Symbol.asyncIterator in result)) {
            metrics.graphqlOperations.inc({ operation, outcome: outcomeOf(result) });
            return;
          }
          metrics.graphqlOperations.inc({ operation, outcome: 'ok' });
          metrics.liveSubscriptions.inc({ field });
          log.info({ requestId: ctx.requestId, operation }, 'subscription started');
          return {
            onEnd() {
              metrics.liveSubscriptions.dec({ field });
              log.info({ requestId: ctx.requestId, operation }, 'subscription ended');
            },
          };
        },
      };
    },
  };
}
