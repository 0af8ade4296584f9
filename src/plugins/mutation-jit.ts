/**
 * Mutations executed by graphql-jit: a recordMetrics batch spends much of its CPU in graphql-js
 * coercing the 500 items of its variables; graphql-jit compiles each document once, coercion
 * included (bench:ingest, #13: about 15 % less server CPU per point). Queries and
 * subscriptions keep graphql-js.
 *
 * recordMetrics' items (a variable of type `[MetricInput!]`) skip even graphql-jit's coercion:
 * they are read by readMetricInputList (metric-input-list.ts), which coerces and validates them
 * in one pass, and handed to a second compilation of the document in which that variable's
 * type is a scalar that passes its value through. When that reader refuses anything, the
 * request runs as before, and GraphQL's coercion says what is wrong.
 *
 * Variables that do not coerce are answered by graphql-js all the same: graphql-jit words those
 * errors differently (`Expected type MetricType.` where graphql-js says which value does not
 * exist and suggests one), and the API documents graphql-js's messages. Nothing has run when
 * variables are refused, so executing again is free of side effects.
 */
import { getOperationAST, isScalarType, Kind, visit, type DocumentNode, type ExecutionArgs, type GraphQLSchema, type TypeNode } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import { markRead, type MetricInput } from '../ingest/metric-input.js';
import { readMetricInputList } from './metric-input-list.js';

interface Compiled {
  query: CompiledQuery;
  /** The variables of type `[MetricInput!]` and the compilation that takes them already read, if any. */
  readAhead: { names: string[]; query: CompiledQuery; parseTime: (value: unknown) => unknown } | null;
}

/** The scalar standing in for read-ahead variables: its parseValue must return its value itself. */
const PASS_THROUGH = 'Tags';

const isMetricInputList = (type: TypeNode): boolean => {
  const list = type.kind === Kind.NON_NULL_TYPE ? type.type : type;
  return list.kind === Kind.LIST_TYPE && list.type.kind === Kind.NON_NULL_TYPE && list.type.type.kind === Kind.NAMED_TYPE && list.type.type.name.value === 'MetricInput';
};

/** The read-ahead compilation of a document whose operation has `[MetricInput!]` variables, or null. */
function compileReadAhead(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): Compiled['readAhead'] {
  const operation = getOperationAST(document, operationName);
  const names = (operation?.variableDefinitions ?? []).filter((d) => isMetricInputList(d.type)).map((d) => d.variable.name.value);
  const passThrough = schema.getType(PASS_THROUGH);
  const time = schema.getType('DateTime');
  const probe = {};
  if (names.length === 0 || !isScalarType(passThrough) || passThrough.parseValue(probe) !== probe || !isScalarType(time)) return null;
  // Only the variables' declared types change; the document was validated as sent.
  const rewritten = visit(document, {
    VariableDefinition: (node) =>
      names.includes(node.variable.name.value) ? { ...node, type: { kind: Kind.NON_NULL_TYPE, type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: PASS_THROUGH } } } } : undefined,
  });
  const result = compileQuery(schema, rewritten, operationName);
  return isCompiledQuery(result) ? { names, query: result, parseTime: (value) => time.parseValue(value) } : null;
}

export function useMutationJit(): Plugin {
  // Yoga parses a document text once and hands out the same DocumentNode: compile per node.
  const compiled = new WeakMap<DocumentNode, Map<string, Compiled | null>>();
  const compiledFor = (args: ExecutionArgs): Compiled | null => {
    let byName = compiled.get(args.document);
    if (!byName) compiled.set(args.document, (byName = new Map()));
    const name = args.operationName ?? '';
    let entry = byName.get(name);
    if (entry === undefined) {
      const result = compileQuery(args.schema, args.document, args.operationName ?? undefined);
      // What it cannot compile, graphql-js runs.
      entry = isCompiledQuery(result) ? { query: result, readAhead: compileReadAhead(args.schema, args.document, args.operationName ?? undefined) } : null;
      byName.set(name, entry);
    }
    return entry;
  };
  /** The variables with every read-ahead list read, or null when the reader refuses one. */
  const readVariables = (readAhead: NonNullable<Compiled['readAhead']>, variables: Record<string, unknown>, context: object): Record<string, unknown> | null => {
    const read = { ...variables };
    const lists: MetricInput[][] = [];
    for (const name of readAhead.names) {
      const items = readMetricInputList(variables[name], readAhead.parseTime);
      if (!items) return null;
      read[name] = items;
      lists.push(items);
    }
    // The resolver finds them by the request's context (what it is handed is a copy: readAheadOf).
    for (const items of lists) markRead(context, items);
    return read;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      const entry = compiledFor(args);
      if (!entry) return;
      setExecuteFn(async (execution) => {
        const variables = (execution.variableValues ?? {}) as Record<string, unknown>;
        const context = execution.contextValue;
        const read = entry.readAhead && typeof context === 'object' && context !== null ? readVariables(entry.readAhead, variables, context) : null;
        const query = read ? entry.readAhead!.query : entry.query;
        const result = await query.query(execution.rootValue, execution.contextValue, read ?? variables);
        return 'data' in result && result.data !== undefined ? result : executeFn(execution);
      });
    },
  };
}
