/**
 * The continuous aggregates as TimescaleDB's catalog describes them: for each view, its
 * materialisation hypertable (schema, name, id), columns and definition. Read once per
 * process and kept (migrations change it, and they run before the service starts); the
 * late-points job recomputes from it and retention deletes from its tables.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/tables.js';

export interface AggregateTable {
  schema: string;
  name: string;
  /** schema-qualified, quoted materialisation hypertable */
  table: string;
  /** its hypertable id, for its watermark */
  id: number;
  /** its columns, quoted, in order */
  columns: string;
  /** the aggregate's SELECT */
  definition: string;
}

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** A loader of the catalog, by view name; a failed read is retried at the next call. */
export function createAggregateCatalog(kysely: Kysely<Database>): () => Promise<Map<string, AggregateTable>> {
  let catalog: Promise<Map<string, AggregateTable>> | undefined;
  return () => {
    catalog ??= sql<{ view_name: string; schema: string; name: string; id: number; definition: string; columns: string }>`
      select a.view_name, a.materialization_hypertable_schema as schema, a.materialization_hypertable_name as name, a.view_definition as definition,
             (select h.id from _timescaledb_catalog.hypertable h
              where h.schema_name = a.materialization_hypertable_schema and h.table_name = a.materialization_hypertable_name) as id,
             (select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute
              where attrelid = format('%I.%I', a.materialization_hypertable_schema, a.materialization_hypertable_name)::regclass and attnum > 0 and not attisdropped) as columns
      from timescaledb_information.continuous_aggregates a
      where a.view_schema = 'public'`
      .execute(kysely)
      .then(({ rows }) =>
        new Map(rows.map((r) => [r.view_name, { schema: r.schema, name: r.name, table: `${quote(r.schema)}.${quote(r.name)}`, id: r.id, columns: r.columns, definition: r.definition.trim().replace(/;$/, '') }])),
      )
      .catch((error: unknown) => {
        catalog = undefined;
        throw error;
      });
    return catalog;
  };
}
