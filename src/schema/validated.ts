import type { z } from 'zod';

/**
 * One zod schema as both an argument's validation and the type its resolver reads.
 *
 * plugin-zod parses the argument with `validate.schema` once, before the resolver (after the
 * field's `access`, src/plugins/access.ts), and passes the parsed output (transforms applied) to
 * the resolver. Pothos still types the resolver's argument as the GraphQL input, so `of` gives
 * it the schema's output type, without parsing again:
 *
 *   const create = validated(createSchema);
 *   args: { input: t.arg({ type: CreateInput, required: true, validate: create.validate }) },
 *   resolve: (_root, args) => { const input = create.of(args.input); … }
 *
 * An argument that may be left out is not parsed when it is (null stays null), so `of` keeps
 * null and undefined in its type.
 */
export function validated<S extends z.ZodType>(schema: S) {
  return {
    // plugin-zod types `schema` by the GraphQL input shape; ours may transform it into another.
    validate: { schema: schema as unknown as z.ZodType<never> },
    of: <V>(value: V) => value as unknown as Extract<V, null | undefined> | z.output<S>,
  };
}
