/**
 * Mutations executed by graphql-jit (@envelop/graphql-jit): the recordMetrics batch spends a
 * large share of its CPU in graphql-js coercing the variables of 500 items; graphql-jit
 * compiles each document once, coercion included. Queries and subscriptions keep graphql-js.
 */
import { useGraphQlJit } from '@envelop/graphql-jit';
import { getOperationAST } from 'graphql';

export const useMutationJit = () => useGraphQlJit({}, { enableIf: (args) => getOperationAST(args.document, args.operationName)?.operation === 'mutation' });
