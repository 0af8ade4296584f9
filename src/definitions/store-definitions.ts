/**
 * Metric definitions in the database: create, update (a new version each time), delete, find.
 *
 * Who may see and change a definition is checked here, with errors that say why, and again by
 * the row-level security policies of migrations/0020, which read the caller's identity and
 * role from the transaction (`scopeTo`). A transaction that never calls scopeTo sees TENANT
 * definitions only.
 */
import { sql } from 'kysely';
import type { Role, Visibility } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { isUniqueViolation } from '../db/tenants.js';
import { userError } from '../errors.js';
import type { TagFilter } from '../query/aggregate.js';
import { checkFormula, type CheckedFormula } from './check-formula.js';
import { checkGroupBy } from './evaluate-formula.js';
import { FormulaError } from './parse-formula.js';

/** Who is asking: their identity (`key:<api key id>`, null for a JWT) and role. */
export interface DefinitionReader {
  principal: string | null;
  role: Role;
}

/** A tenant principal as a reader of definitions. */
export function readerOf(principal: { role: Role; keyId: string | null }): DefinitionReader {
  return { principal: principal.keyId ? `key:${principal.keyId}` : null, role: principal.role };
}

/** The settings that tell the row-level security policies who is asking (withTenant's `settings`, or scopeTo). */
export function scopeSettings(reader: DefinitionReader): Record<string, string> {
  return { 'app.principal': reader.principal ?? '', 'app.role': reader.role };
}

/** Tells the row-level security policies who is asking, for the rest of this transaction. */
export async function scopeTo(trx: TenantTx, reader: DefinitionReader): Promise<TenantTx> {
  const settings = Object.entries(scopeSettings(reader)).map(([name, value]) => sql`set_config(${name}, ${value}, true)`);
  await sql`select ${sql.join(settings)}`.execute(trx);
  return trx;
}

/** One version of a definition, with the definition's own fields. */
export interface LoadedDefinition {
  id: string;
  name: string;
  visibility: Visibility;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
  latestVersion: number;
  version: number;
  formula: string;
  description: string | null;
  unit: string | null;
  filters: TagFilter[];
  groupBy: string[];
  /** The recorded metrics the formula reads. */
  metrics: string[];
  versionCreatedBy: string | null;
  versionCreatedAt: Date;
}

export interface DefinitionInput {
  name: string;
  description: string | null;
  unit: string | null;
  formula: string;
  filters: TagFilter[];
  groupBy: string[];
  visibility: Visibility;
}

const MANAGERS: readonly Role[] = ['ADMIN', 'MANAGER'];
const WRITERS: readonly Role[] = ['ADMIN', 'MANAGER', 'DEVELOPER'];

function selectDefinitions(trx: TenantTx) {
  return trx
    .selectFrom('metric_definitions as d')
    .innerJoin('metric_definition_versions as v', 'v.definition_id', 'd.id')
    .select([
      'd.id',
      'd.name',
      'd.visibility',
      'd.created_by as createdBy',
      'd.created_at as createdAt',
      'd.updated_at as updatedAt',
      'd.version as latestVersion',
      'v.version',
      'v.formula',
      'v.description',
      'v.unit',
      'v.filters',
      'v.group_by as groupBy',
      'v.metrics',
      'v.created_by as versionCreatedBy',
      'v.created_at as versionCreatedAt',
    ]);
}

/** A FormulaError as what the API shows: BAD_USER_INPUT with the position. */
export function formulaInputError(error: unknown): unknown {
  if (!(error instanceof FormulaError)) return error;
  return userError('BAD_USER_INPUT', 'formula.invalid', { detail: error.message }, { position: { line: error.pos.line, column: error.pos.column } });
}

/** Parses and checks a formula, turning its errors into BAD_USER_INPUT with a position. */
export async function checkFormulaInput(trx: TenantTx, formula: string): Promise<CheckedFormula> {
  try {
    return await checkFormula(trx, formula);
  } catch (error) {
    throw formulaInputError(error);
  }
}

/**
 * The latest versions of the definitions named in `names` that the reader may see. A name that
 * is also a recorded metric is the metric's (a definition cannot be created over a metric's
 * name; this covers a metric recorded later).
 */
export async function findDefinitions(trx: TenantTx, names: readonly string[], reader: DefinitionReader | 'scoped'): Promise<LoadedDefinition[]> {
  if (names.length === 0) return [];
  // 'scoped': the transaction was opened with scopeSettings already (one statement fewer).
  const defs = reader === 'scoped' ? trx : await scopeTo(trx, reader);
  return selectDefinitions(defs)
    .whereRef('v.version', '=', 'd.version')
    .where('d.name', 'in', [...names])
    .where((eb) => eb.not(eb.exists(eb.selectFrom('metrics as m').select('m.id').whereRef('m.name', '=', 'd.name'))))
    .execute();
}

/** One definition by name, at `version` or the latest; NOT_FOUND if the reader cannot see it. */
export async function loadDefinition(trx: TenantTx, name: string, version: number | null, reader: DefinitionReader): Promise<LoadedDefinition> {
  const defs = await scopeTo(trx, reader);
  let query = selectDefinitions(defs).where('d.name', '=', name);
  query = version === null ? query.whereRef('v.version', '=', 'd.version') : query.where('v.version', '=', version);
  const row = await query.executeTakeFirst();
  if (!row) {
    const exists = version !== null && (await selectDefinitions(defs).where('d.name', '=', name).executeTakeFirst());
    throw exists
      ? userError('NOT_FOUND', 'definition.noVersion', { name, version, latest: exists.latestVersion }, { definition: name })
      : userError('NOT_FOUND', 'definition.notFound', { name }, { definition: name });
  }
  return row;
}

/** Every version of the definitions with these ids, each one's newest first. */
export async function definitionVersions(trx: TenantTx, ids: readonly string[], reader: DefinitionReader): Promise<LoadedDefinition[]> {
  const defs = await scopeTo(trx, reader);
  return selectDefinitions(defs).where('d.id', 'in', [...ids]).orderBy('d.id').orderBy('v.version', 'desc').execute();
}

/** The latest versions the reader may see, by name, optionally those starting with `prefix`. */
export async function listDefinitions(trx: TenantTx, reader: DefinitionReader, options: { prefix: string | null; limit: number }): Promise<LoadedDefinition[]> {
  const defs = await scopeTo(trx, reader);
  let query = selectDefinitions(defs).whereRef('v.version', '=', 'd.version').orderBy('d.name').limit(options.limit);
  if (options.prefix) query = query.where(sql<boolean>`starts_with(d.name, ${options.prefix})`);
  return query.execute();
}

/** Checks what a version would store: the formula against the tenant's metrics, groupBy against their tags. */
async function checkVersion(trx: TenantTx, input: Pick<DefinitionInput, 'formula' | 'groupBy'>): Promise<CheckedFormula> {
  const checked = await checkFormulaInput(trx, input.formula);
  await checkGroupBy(trx, checked, input.groupBy);
  return checked;
}

function forbidPrivateWithoutIdentity(reader: DefinitionReader, visibility: Visibility) {
  if (visibility === 'PRIVATE' && reader.principal === null) {
    throw userError('BAD_USER_INPUT', 'definition.privateNeedsCreator');
  }
}

export async function createDefinition(trx: TenantTx, reader: DefinitionReader, input: DefinitionInput): Promise<LoadedDefinition> {
  if (!WRITERS.includes(reader.role)) throw userError('FORBIDDEN', 'definition.createRoles', { roles: WRITERS.join(', '), role: reader.role });
  forbidPrivateWithoutIdentity(reader, input.visibility);
  const defs = await scopeTo(trx, reader);
  const metric = await trx.selectFrom('metrics').select('name').where('name', '=', input.name).executeTakeFirst();
  if (metric) throw userError('BAD_USER_INPUT', 'definition.shadowsMetric', { name: input.name }, { name: input.name });
  const checked = await checkVersion(trx, input);
  let id: string;
  try {
    ({ id } = await defs
      .insertInto('metric_definitions')
      .values({ tenant_id: sql<string>`current_tenant_id()`, name: input.name, visibility: input.visibility, created_by: reader.principal })
      .returning('id')
      .executeTakeFirstOrThrow());
  } catch (error) {
    if (isUniqueViolation(error)) throw userError('BAD_USER_INPUT', 'definition.exists', { name: input.name }, { name: input.name });
    throw error;
  }
  await insertVersion(defs, id, 1, input, checked, reader);
  return loadDefinition(trx, input.name, null, reader);
}

async function insertVersion(defs: TenantTx, id: string, version: number, input: DefinitionInput, checked: CheckedFormula, reader: DefinitionReader) {
  await defs
    .insertInto('metric_definition_versions')
    .values({
      tenant_id: sql<string>`current_tenant_id()`,
      definition_id: id,
      version,
      formula: input.formula,
      description: input.description,
      unit: input.unit,
      filters: JSON.stringify(input.filters),
      group_by: JSON.stringify(input.groupBy),
      metrics: checked.metrics,
      created_by: reader.principal,
    })
    .execute();
}

/** The definition with `id` as the reader may change it; NOT_FOUND or FORBIDDEN (with the reason) otherwise. */
async function changeable(trx: TenantTx, reader: DefinitionReader, id: string): Promise<LoadedDefinition> {
  if (!WRITERS.includes(reader.role)) throw userError('FORBIDDEN', 'definition.changeRoles', { roles: WRITERS.join(', '), role: reader.role });
  const defs = await scopeTo(trx, reader);
  const current = await selectDefinitions(defs).where('d.id', '=', id).whereRef('v.version', '=', 'd.version').executeTakeFirst();
  if (!current) throw userError('NOT_FOUND', 'definition.notFoundId', { id }, { id });
  if (!MANAGERS.includes(reader.role) && (current.createdBy === null || current.createdBy !== reader.principal)) {
    throw userError('FORBIDDEN', 'definition.notOwner', { name: current.name });
  }
  return current;
}

/** Updates a definition: a new version with the given fields changed and the rest as they were. */
export async function updateDefinition(
  trx: TenantTx,
  reader: DefinitionReader,
  id: string,
  changes: Partial<Omit<DefinitionInput, 'name'>>,
): Promise<LoadedDefinition> {
  const current = await changeable(trx, reader, id);
  const next: DefinitionInput = {
    name: current.name,
    description: changes.description !== undefined ? changes.description : current.description,
    unit: changes.unit !== undefined ? changes.unit : current.unit,
    formula: changes.formula ?? current.formula,
    filters: changes.filters ?? current.filters,
    groupBy: changes.groupBy ?? current.groupBy,
    visibility: changes.visibility ?? current.visibility,
  };
  if (next.visibility === 'PRIVATE' && current.createdBy === null) {
    throw userError('BAD_USER_INPUT', 'definition.staysTenant', { name: current.name });
  }
  const checked = await checkVersion(trx, next);
  // The row lock of this update orders concurrent updates: each gets its own version number.
  const { version } = await trx
    .updateTable('metric_definitions')
    .set((eb) => ({ version: eb('version', '+', 1), visibility: next.visibility, updated_at: sql<Date>`now()` }))
    .where('id', '=', id)
    .returning('version')
    .executeTakeFirstOrThrow();
  await insertVersion(trx, id, version, next, checked, reader);
  return loadDefinition(trx, current.name, null, reader);
}

export async function deleteDefinition(trx: TenantTx, reader: DefinitionReader, id: string): Promise<LoadedDefinition> {
  const current = await changeable(trx, reader, id);
  await trx.deleteFrom('metric_definitions').where('id', '=', id).execute();
  return current;
}

/** What a cached answer depends on: each definition's id and version. */
export function definitionStamp(definitions: readonly LoadedDefinition[]): Array<[string, string, number]> {
  return definitions.map((d) => [d.name, d.id, d.version]);
}
