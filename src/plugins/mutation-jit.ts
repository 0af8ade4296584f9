/**
 * Mutations executed by graphql-jit: a recordMetrics batch spends much of its CPU in graphql-js
 * coercing the 500 items of its variables; graphql-jit compiles each document once, coercion
 * included (bench:ingest, #13: about 15 % less server CPU per point). Queries and
 * subscriptions keep graphql-js.
 *
 * Variables that do not coerce are answered by graphql-js all the same: graphql-jit words those
 * errors differently (`Expected type MetricType.` where graphql-js says which value does not
 * exist and suggests one), and the API documents graphql-js's messages. Nothing has run when
 * variables are refused, so executing again is free of side effects.
 */
import { getOperationAST, type DocumentNode, type ExecutionArgs } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';

export function useMutationJit(): Plugin {
  // Yoga parses a document text once and hands out the same DocumentNode: compile per node.
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();
  const compiledFor = (args: ExecutionArgs): CompiledQuery | null => {
    let byName = compiled.get(args.document);
    if (!byName) compiled.set(args.document, (byName = new Map()));
    const name = args.operationName ?? '';
    let query = byName.get(name);
    if (query === undefined) {
      const result = compileQuery(args.schema, args.document, args.operationName ?? undefined);
      query = isCompiledQuery(result) ? result : null; // what it cannot compile, graphql-js runs
      byName.set(name, query);
    }
    return query;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      const query = compiledFor(args);
      if (!query) return;
      setExecuteFn(async (execution) => {
        const result = await query.query(execution.rootValue, execution.contextValue, execution.variableValues);
        return 'data' in result && result.data !== undefined ? result : executeFn(execution);
      });
    },
  };
}
