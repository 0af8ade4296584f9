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
  /** The SELECT cut around its source relation, where it has the shape of ours (narrowSource); null otherwise. */
  source: SourceParts | null;
}

/** An aggregate's SELECT as `before` + source relation + `after`, and the source's time column. */
export interface SourceParts {
  before: string;
  relation: string;
  /** the name the rest of the SELECT reads the source by */
  alias: string;
  /** the source's time column, quoted */
  time: string;
  after: string;
}

/**
 * Cuts a continuous aggregate's SELECT around its source, so that a recompute can read a
 * narrowed source (one tenant's series, the buckets' span) in its place: PostgreSQL applies a
 * condition on the aggregate's bucket, time_bucket(width, source time), only after grouping,
 * and a group level's tenant and metric belong to the joined series_groups, so without this a
 * recompute of one tenant's day read every tenant's rows of the level below (1.0-1.6 s per
 * day in bench:ingest's late arm, growing with the data). Our two shapes (migrations):
 *
 *   … FROM sketch_1h GROUP BY tenant_id, series_id, (time_bucket('1 day'::interval, bucket))
 *   … FROM (sketch_1d a JOIN series_groups g ON ((g.series_id = a.series_id))) GROUP BY …
 */
export function narrowSource(definition: string): SourceParts | null {
  const grouped = /^([\s\S]*\bFROM \()(\w+) a(\s+JOIN series_groups g ON \(\(g\.series_id = a\.series_id\)\)\)[\s\S]*)$/.exec(definition);
  if (grouped) return { before: grouped[1]!, relation: grouped[2]!, alias: 'a', time: 'bucket', after: grouped[3]! };
  const plain = /^([\s\S]*\bFROM )(\w+)(\s+GROUP BY tenant_id, series_id, \(time_bucket\('[^']+'::interval, (bucket|"time")\)\))$/.exec(definition);
  if (plain) return { before: plain[1]!, relation: plain[2]!, alias: plain[2]!, time: plain[4]!, after: plain[3]! };
  return null;
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
        new Map(
          rows.map((r) => {
            const definition = r.definition.trim().replace(/;$/, '');
            return [r.view_name, { schema: r.schema, name: r.name, table: `${quote(r.schema)}.${quote(r.name)}`, id: r.id, columns: r.columns, definition, source: narrowSource(definition) }];
          }),
        ),
      )
      .catch((error: unknown) => {
        catalog = undefined;
        throw error;
      });
    return catalog;
  };
}
