/**
 * `access` on a field: who may call it, checked before its arguments are validated.
 *
 * plugin-zod validates a field's arguments in its resolver wrapper, before the resolver runs; a
 * resolver's own `requireTenant` therefore came too late: a caller with no key (or too weak a
 * role) who also sent bad input was told the input rules (BAD_USER_INPUT) instead of
 * UNAUTHENTICATED / FORBIDDEN. This plugin is listed before ZodOncePlugin in src/builder.ts, and
 * Pothos wraps resolvers so that the first plugin listed runs first, so the check here runs
 * before validation. This is the one place a field's roles are said: resolvers take the principal
 * with `requireTenant(ctx)` and no roles (the lint forbids roles there, eslint.config.js).
 *
 * Every root field, and every field whose arguments carry a `validate`, must say its access (or
 * `'public'`): the schema does not build otherwise, so a new field cannot forget it, and a new
 * validated field cannot bring the old order back.
 */
import SchemaBuilder, { BasePlugin, PothosSchemaError, type FieldNullability, type InputFieldMap, type PothosOutputFieldConfig, type SchemaTypes, type TypeParam } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import { requireOperator, requireTenant, type Context } from '../context.js';
import type { Role } from '../db/tables.js';

/** A tenant key (of any role, or of one of `roles`), the operator token (`operator` ends "Only the operator token can …"), or anyone. */
export type Access = 'tenant' | { roles: readonly Role[] } | { operator: string } | 'public';

// Pothos' options are extended by merging into its global namespace, and merged interfaces must
// repeat every type parameter by name, used or not.
/* eslint-disable @typescript-eslint/no-namespace, @typescript-eslint/no-unused-vars */
declare global {
  export namespace PothosSchemaTypes {
    interface Plugins<Types extends SchemaTypes> {
      access: AccessPlugin<Types>;
    }
    interface FieldOptions<
      Types extends SchemaTypes,
      ParentShape,
      Type extends TypeParam<Types>,
      Nullable extends FieldNullability<Type>,
      Args extends InputFieldMap,
      ResolveShape,
      ResolveReturnShape,
    > {
      access?: Access;
    }
  }
}
/* eslint-enable @typescript-eslint/no-namespace, @typescript-eslint/no-unused-vars */

/** Throws UNAUTHENTICATED or FORBIDDEN unless the caller has `access`. */
export function checkAccess(ctx: Context, access: Access): void {
  if (access === 'public') return;
  if (access === 'tenant') requireTenant(ctx);
  else if ('roles' in access) requireTenant(ctx, access.roles);
  else requireOperator(ctx, access.operator);
}

function validatesArgs(fieldConfig: PothosOutputFieldConfig<SchemaTypes>): boolean {
  const options = fieldConfig.pothosOptions as { validate?: unknown };
  return options.validate !== undefined || Object.values(fieldConfig.args).some((arg) => (arg.pothosOptions as { validate?: unknown }).validate !== undefined);
}

const ROOTS = new Set(['Query', 'Mutation', 'Subscription']);

export class AccessPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override onOutputFieldConfig(fieldConfig: PothosOutputFieldConfig<Types>): PothosOutputFieldConfig<Types> {
    if (fieldConfig.pothosOptions.access === undefined && (ROOTS.has(fieldConfig.kind) || validatesArgs(fieldConfig as unknown as PothosOutputFieldConfig<SchemaTypes>))) {
      throw new PothosSchemaError(`${fieldConfig.parentType}.${fieldConfig.name} has no \`access\` option (src/plugins/access.ts): every root field and every field that validates its arguments says who may call it.`);
    }
    return fieldConfig;
  }

  override wrapResolve(resolver: GraphQLFieldResolver<unknown, Types['Context'], object>, fieldConfig: PothosOutputFieldConfig<Types>): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const access = fieldConfig.pothosOptions.access;
    // A subscription's resolve maps each event; its subscribe is where the caller is checked.
    if (access === undefined || access === 'public' || fieldConfig.kind === 'Subscription') return resolver;
    return (parent, args, ctx, info) => {
      checkAccess(ctx as Context, access);
      return resolver(parent, args, ctx, info);
    };
  }

  override wrapSubscribe(
    subscribe: GraphQLFieldResolver<unknown, Types['Context'], object> | undefined,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> | undefined {
    const access = fieldConfig.pothosOptions.access;
    if (!subscribe || access === undefined || access === 'public') return subscribe;
    return (parent, args, ctx, info) => {
      checkAccess(ctx as Context, access);
      return subscribe(parent, args, ctx, info);
    };
  }
}

SchemaBuilder.registerPlugin('access', AccessPlugin);

export default 'access' as const;
