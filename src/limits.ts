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
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Env } from './env.js';

/** Armor's refusals with our code on them (its messages say which limit). */
function coded(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });
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
  const plugins: Plugin[] = [...(armor.protect().plugins as Plugin[])];
  const rules: ValidationRule[] = env.GRAPHQL_INTROSPECTION ? [] : [NoSchemaIntrospectionCustomRule];
  plugins.push({
    onValidate({ addValidationRule, context }) {
      for (const rule of rules) addValidationRule(rule);
      // List-size cost (Pothos' complexity plugin): armor's cost limit counts a list field once,
      // so `metricDefinitions { versions { … } }` cost what one definition costs; this rule
      // multiplies what a list selects by its size bound (builder.ts), with the request's own
      // variables. Yoga's context carries them over HTTP; server.ts passes the WebSocket payload.
      const params = (context as { params?: { variables?: Record<string, unknown> | null; operationName?: string | null } }).params;
      addValidationRule(
        createComplexityRule({
          context: context as object,
          variableValues: params?.variables ?? {},
          operationName: params?.operationName ?? undefined,
          maxComplexity: env.GRAPHQL_MAX_COMPLEXITY,
        }),
      );
      return ({ result, setResult }) => {
        if (result.length === 0) return;
        setResult(
          result.map((error) => {
            if (error.extensions?.code) return error;
            if (/introspection/i.test(error.message) && !env.GRAPHQL_INTROSPECTION) return coded(error, 'FORBIDDEN');
            if (/limit|exceeded|too many|maximum/i.test(error.message) || error.originalError?.name === 'PothosValidationError') return coded(error, 'LIMIT_EXCEEDED');
            return error;
          }),
        );
      };
    },
  });
  return plugins;
}
