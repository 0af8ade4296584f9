import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './tables.js';
import { primaryReads, type Reads } from './tenant.js';
import type { Logger } from '../log.js';
import { createEngineUsers, type EngineUsers } from './engine-turns.js';

export type EngineKind = 'embedded' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  kind: EngineKind;
  /** True when TimescaleDB is installed: hypertables, continuous aggregates, policies. */
  timescale: boolean;
  /** A pg pool's gauges, for /health; undefined on the embedded engine. */
  pool?: pg.Pool;
  /** The embedded engine's WASM memory in bytes (embedded.ts); undefined on PostgreSQL. */
  engineMemoryBytes?: () => number;
  /**
   * The embedded engine's users (src/db/engine-turns.ts): requests in flight and callers in
   * line for its one connection, whom jobs give way to; undefined on PostgreSQL.
   */
  engineUsers?: EngineUsers;
  /** Where tenant reads run: the primary, or streaming replicas when DATABASE_READ_URLS is set (replicas.ts). */
  reads: Reads;
  close(): Promise<void>;
}

export interface ConnectOptions {
  databaseUrl?: string;
  /** Embedded engine only: where its files live; undefined keeps everything in memory. */
  dataDir?: string;
  poolSize?: number;
  /** Embedded engine only: PostgreSQL's shared_buffers in MB (embedded.ts has the default). */
  embeddedSharedBuffersMb?: number;
  log: Logger;
}

// int8 ids fit easily in a double; numbers keep both engines' rows the same shape.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export async function connect(options: ConnectOptions): Promise<Db> {
  const { log } = options;
  if (!options.databaseUrl) {
    // The embedded engine is a one-maintainer fork (DESIGN.md §1): loaded only when it is used,
    // so a service on DATABASE_URL never imports it.
    const { openEmbedded } = await import('./embedded.js');
    const engine = await openEmbedded(options.dataDir, { sharedBuffersMb: options.embeddedSharedBuffersMb });
    const kysely = new Kysely<Database>({ dialect: engine.dialect });
    log.info({ engine: 'embedded', dataDir: options.dataDir ?? ':memory:' }, 'database: embedded PGlite with TimescaleDB');
    return {
      kysely,
      kind: 'embedded',
      timescale: true,
      engineMemoryBytes: engine.memoryBytes,
      engineUsers: createEngineUsers(engine.waiting),
      reads: primaryReads(kysely),
      async close() {
        await kysely.destroy();
        await engine.close();
      },
    };
  }

  const { pool, kysely } = openPool(options.databaseUrl, options.poolSize ?? 10, log);
  const timescale = await enableTimescale(kysely, log);
  log.info({ engine: 'postgres', timescale }, timescale ? 'database: PostgreSQL with TimescaleDB' : 'database: PostgreSQL without TimescaleDB: hypertables, continuous aggregates and policies are off; queries read raw points');
  return {
    kysely,
    kind: 'postgres',
    timescale,
    pool,
    reads: primaryReads(kysely),
    close: () => kysely.destroy(),
  };
}

/** A `pg` pool and its Kysely, for the primary and for each read replica alike. */
export function openPool(url: string, size: number, log: Logger, connectTimeoutMs = 5_000): { pool: pg.Pool; kysely: Kysely<Database> } {
  const pool = new pg.Pool({
    connectionString: url,
    max: size,
    types: pgTypes,
    // Fail fast when the server is gone instead of queueing forever.
    connectionTimeoutMillis: connectTimeoutMs,
  });
  // An idle client losing its server must not take the process down; the next query reconnects.
  pool.on('error', (error) => log.warn({ err: error.message }, 'database: idle client error'));
  // A client checked out when its server goes (a restart terminates every backend) emits
  // 'error' too, between two queries of a transaction: with no listener that would end the
  // process. The query in flight fails with the error (SERVICE_UNAVAILABLE to the caller) and
  // the pool drops the broken client when it is released.
  pool.on('connect', (client) => client.on('error', (error) => log.warn({ err: error.message }, 'database: connection lost')));
  return { pool, kysely: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }) };
}

/** Creates the extension where the server offers it; false (and a log line) where it does not. */
async function enableTimescale(kysely: Kysely<Database>, log: Logger): Promise<boolean> {
  const available = await sql<{ available: boolean }>`
    select exists (select 1 from pg_available_extensions where name = 'timescaledb') as available`.execute(kysely);
  if (!available.rows[0]?.available) return false;
  try {
    await sql`create extension if not exists timescaledb`.execute(kysely);
    return true;
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'database: timescaledb is available but could not be enabled');
    return false;
  }
}
