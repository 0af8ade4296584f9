/**
 * Operation limits, over HTTP and WebSocket alike (both go through Yoga's envelop plugins):
 * graphql-armor's depth, alias, token, directive and cost limits (pinned at 3.2.0, whose
 * max-depth 2.4.2 and cost-limit 2.4.3 carry the 2025 fixes for GHSA-hmfr-rx46-4jx2,
 * GHSA-224p-v68g-5g8f and GHSA-733v-p3h5-qpq7), no field suggestions in production, and
 * introspection that can be switched off. Each refusal carries `LIMIT_EXCEEDED` (or
 * `FORBIDDEN` for introspection) and is a 400, as a validation error is.
 */
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { createComplexityRule } from '@pothos/plugin-complexity';
import { getOperationAST, GraphQLError, Kind, NoSchemaIntrospectionCustomRule, validate, type DocumentNode, type GraphQLSchema, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { userError } from './errors.js';
import type { Env } from './env.js';

/** Armor's refusals with our code on them (its messages say which limit). */
function coded(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });
}

/** Brackets a document may nest, selections, arguments and literals together (selection depth is GRAPHQL_MAX_DEPTH on top). */
export const MAX_NESTING = 100;

/**
 * How deep `{`, `[` and `(` nest in a GraphQL document, outside strings and comments: one pass,
 * no recursion. graphql-js parses nested literals recursively, so a 10 000-level object literal
 * overflows the stack inside the parser, before any token or depth limit can answer; this
 * measure runs first.
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '#') {
      while (i < text.length && text[i] !== '\n' && text[i] !== '\r') i++;
    } else if (c === '"') {
      if (text.startsWith('"""', i)) {
        const end = text.indexOf('"""', i + 3);
        i = end < 0 ? text.length : end + 2;
      } else {
        for (i++; i < text.length && text[i] !== '"' && text[i] !== '\n'; i++) if (text[i] === '\\') i++;
      }
    } else if (c === '{' || c === '[' || c === '(') {
      if (++depth > max) max = depth;
    } else if (c === '}' || c === ']' || c === ')') depth--;
  }
  return max;
}

export function operationLimits(env: Env): Plugin[] {
  const production = env.NODE_ENV === 'production';
  // Armor throws its refusals; they get our code (and a 400) on the way.
  const reject = [
    (_ctx: unknown, error: GraphQLError) => {
      Object.assign(error.extensions as Record<string, unknown>, { code: 'LIMIT_EXCEEDED', http: { status: 400 } });
    },
  ];
  const armor = new EnvelopArmor({
    maxDepth: { n: env.GRAPHQL_MAX_DEPTH, flattenFragments: true, onReject: reject, propagateOnRejection: true },
    maxAliases: { n: env.GRAPHQL_MAX_ALIASES, onReject: reject, propagateOnRejection: true },
    maxTokens: { n: env.GRAPHQL_MAX_TOKENS, onReject: reject, propagateOnRejection: true },
    maxDirectives: { n: env.GRAPHQL_MAX_DIRECTIVES, onReject: reject, propagateOnRejection: true },
    costLimit: { maxCost: env.GRAPHQL_MAX_COST, ignoreIntrospection: true, onReject: reject, propagateOnRejection: true },
    blockFieldSuggestion: { enabled: production },
  });
  const plugins: Plugin[] = [
    {
      onParse({ params }) {
        const text = typeof params.source === 'string' ? params.source : params.source.body;
        const depth = nestingDepth(text);
        if (depth > MAX_NESTING) {
          throw userError('LIMIT_EXCEEDED', 'request.tooDeep', { depth, max: MAX_NESTING }, { limit: MAX_NESTING, http: { status: 400 } });
        }
      },
    },
    ...(armor.protect().plugins as Plugin[]),
  ];
  // List-size cost (Pothos' complexity plugin): armor's cost limit counts a list field once, so
  // `metricDefinitions { versions { … } }` cost what one definition costs; this rule multiplies
  // what a list selects by its size bound (builder.ts), with the request's own variables. It
  // runs when the operation is about to execute or subscribe (HTTP and WebSocket alike), not in
  // validation: Yoga caches validation by document text, and the cost depends on the variables.
  //
  // The cost is a function of the document, the operation and these variables alone (no cost
  // function reads the context: builder.ts listOf), so each verdict is kept per document: a
  // recordMetrics batch (cost variables always `{ m: [] }`) paid a validation pass per request
  // (about 1 ms, #13's profile).
  const verdicts = new WeakMap<DocumentNode, Map<string, string | null>>();
  const complexity = ({ args, setResultAndStopExecution }: { args: { schema: GraphQLSchema; document: DocumentNode; contextValue: unknown; variableValues?: unknown; operationName?: string | null }; setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void }) => {
    const variableValues = costVariables(args.document, args.operationName, (args.variableValues ?? {}) as Record<string, unknown>);
    let known = verdicts.get(args.document);
    if (!known) verdicts.set(args.document, (known = new Map()));
    const key = verdictKey(args.operationName, variableValues);
    let refused = key === null ? undefined : known.get(key);
    if (refused === undefined) {
      const rule = createComplexityRule({ context: (args.contextValue ?? {}) as object, variableValues, operationName: args.operationName ?? undefined, maxComplexity: env.GRAPHQL_MAX_COMPLEXITY });
      refused = validate(args.schema, args.document, [rule]).find((error) => error.extensions?.code === 'QUERY_COMPLEXITY')?.message ?? null;
      if (key !== null) {
        if (known.size >= 100) known.clear();
        known.set(key, refused);
      }
    }
    if (refused !== null) {
      setResultAndStopExecution({ errors: [new GraphQLError(refused, { extensions: { code: 'LIMIT_EXCEEDED', limit: env.GRAPHQL_MAX_COMPLEXITY, http: { status: 400 } } })] });
    }
  };
  plugins.push({ onExecute: complexity, onSubscribe: complexity } as Plugin);
  const rules: ValidationRule[] = env.GRAPHQL_INTROSPECTION ? [] : [NoSchemaIntrospectionCustomRule];
  plugins.push({
    onValidate({ addValidationRule }) {
      for (const rule of rules) addValidationRule(rule);
      return ({ result, setResult }) => {
        if (result.length === 0) return;
        setResult(
          result.map((error) => {
            if (error.extensions?.code) return error;
            if (/introspection/i.test(error.message) && !env.GRAPHQL_INTROSPECTION) return coded(error, 'FORBIDDEN');
            if (/limit|exceeded|too many|maximum/i.test(error.message)) return coded(error, 'LIMIT_EXCEEDED');
            return error;
          }),
        );
      };
    },
  });
  return plugins;
}

/**
 * The key of a complexity verdict: the operation and its cost variables as JSON (they came as
 * JSON); null when too long to keep, or when JSON.stringify cannot print them (a value nested
 * thousands of levels deep overflows it; the rule then answers as it did before this cache).
 */
function verdictKey(operationName: string | null | undefined, variables: Record<string, unknown>): string | null {
  let json: string;
  try {
    json = JSON.stringify(variables);
  } catch {
    return null;
  }
  const key = `${operationName ?? ''}\u0000${json}`;
  return key.length <= 2000 ? key : null;
}

/**
 * The variables the list-size cost is computed with: list-typed variables (recordMetrics'
 * items) as empty lists. Every cost function reads a field's scalar `limit` argument, never an
 * input list (builder.ts listOf), so the cost is the same; and the rule coerces every variable
 * it is given, which for a 500-item batch cost as much CPU as executing it (#13's profile).
 * An empty list is a valid value of any list type, so the coercion cannot fail for it.
 */
function costVariables(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown>): Record<string, unknown> {
  let out = variables;
  for (const definition of getOperationAST(document, operationName)?.variableDefinitions ?? []) {
    const type = definition.type.kind === Kind.NON_NULL_TYPE ? definition.type.type : definition.type;
    const name = definition.variable.name.value;
    if (type.kind !== Kind.LIST_TYPE || !Array.isArray(variables[name]) || (variables[name] as unknown[]).length === 0) continue;
    if (out === variables) out = { ...variables };
    out[name] = [];
  }
  return out;
}
