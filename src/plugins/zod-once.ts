/**
 * plugin-zod, validating a subscription's arguments once.
 *
 * plugin-zod wraps a subscription's `subscribe` and also its `resolve`, which graphql-js calls
 * for every event with the same arguments: each point metricRecorded delivers would parse its
 * filter again (about 33 µs an event against 1-3 µs for the unvalidated input before, measured
 * in one process under load 16), and nothing can come of it that the first parse did not say.
 * Here the resolve of a subscription is left as it is; queries and mutations, and every
 * subscribe, are validated exactly as plugin-zod does.
 */
import SchemaBuilder, { type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import { PothosZodPlugin } from '@pothos/plugin-zod';
import type { GraphQLFieldResolver } from 'graphql';

/* eslint-disable @typescript-eslint/no-namespace -- Pothos' plugin map is extended by merging into its global namespace. */
declare global {
  export namespace PothosSchemaTypes {
    interface Plugins<Types extends SchemaTypes> {
      zodOnce: ZodOncePlugin<Types>;
    }
  }
}
/* eslint-enable @typescript-eslint/no-namespace */

export class ZodOncePlugin<Types extends SchemaTypes> extends PothosZodPlugin<Types> {
  override wrapResolve(resolver: GraphQLFieldResolver<unknown, Types['Context'], object>, fieldConfig: PothosOutputFieldConfig<Types>): GraphQLFieldResolver<unknown, Types['Context'], object> {
    return fieldConfig.kind === 'Subscription' ? resolver : super.wrapResolve(resolver, fieldConfig);
  }
}

SchemaBuilder.registerPlugin('zodOnce', ZodOncePlugin);

export default 'zodOnce' as const;
