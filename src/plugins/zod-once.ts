/**
 * plugin-zod, validating each field's arguments once, and only where something is validated.
 *
 * plugin-zod wraps a subscription's `subscribe` and also its `resolve`, which graphql-js calls
 * for every event with the same arguments: each point metricRecorded delivers would parse its
 * filter again (about 33 µs an event against 1-3 µs for the unvalidated input before, measured
 * in one process under load 16), and nothing can come of it that the first parse did not say.
 * Here the resolve of a subscription is left as it is; queries and mutations, and every
 * subscribe, are validated exactly as plugin-zod does.
 *
 * plugin-zod also wraps every field with an input-object argument, validated or not: without a
 * `validate` option anywhere in the argument's types, its parse accepts whatever GraphQL
 * coerced and only copies it, object by object (recordMetrics' 500 items, which
 * src/plugins/metric-input-list.ts has already read and checked against metricInputSchema, #13).
 * Such a field's resolver is left as it is and gets GraphQL's arguments themselves.
 */
import SchemaBuilder, { mapInputFields, resolveInputTypeConfig, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
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
    if (fieldConfig.kind === 'Subscription' || !this.validatesArgs(fieldConfig)) return resolver;
    return super.wrapResolve(resolver, fieldConfig);
  }

  /** Whether the field, one of its arguments, or an input type or field they reach (at any depth) has a `validate` option. */
  private validatesArgs(fieldConfig: PothosOutputFieldConfig<Types>): boolean {
    if (fieldConfig.pothosOptions.validate) return true;
    const validated = mapInputFields(fieldConfig.args, this.buildCache, (field) => {
      if (field.pothosOptions.validate) return true;
      const type = resolveInputTypeConfig(field.type, this.buildCache);
      return type.kind === 'InputObject' && type.pothosOptions.validate ? true : null;
    });
    return validated !== null;
  }
}

SchemaBuilder.registerPlugin('zodOnce', ZodOncePlugin);

export default 'zodOnce' as const;
