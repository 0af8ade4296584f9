/**
 * How far V8 lets the old generation grow past what survived its last full collection, chosen
 * by engine at start (#13, #16), because the two deployments want opposite things:
 *
 * - Embedded: one process holds the service and the engine's WASM memory, and bench:abuse must
 *   stay under 512 MB. With V8's own growth (up to 4× what is live) the garbage of the widest
 *   pages took the heap to 380 MB and the process to 696 MB; growing by 20 % keeps it at
 *   434–441 MB. Its ingestion is bound by the engine, so the extra collections cost little.
 * - PostgreSQL: the service is stateless and ingestion is bound by its own CPU. Growing by 20 %
 *   cost 17.5–22 µs of server CPU per point in bench:ingest against 11.5–14 with V8's growth
 *   (major collections took 15 % of the main thread instead of 8 %); bench:abuse peaks at
 *   439 MB with V8's growth (203 MB with 20 %).
 *
 * Set at run time because the image is the same for both. V8 reads the setting at every full
 * collection (test/heap.test.ts checks that setting it here takes effect). A
 * `--heap-growing-percent` on the command line wins over this choice.
 */
import v8 from 'node:v8';
import type { EngineKind } from '../db/connect.js';

export const EMBEDDED_HEAP_GROWING_PERCENT = 20;

/** Applies the embedded engine's heap growth unless `execArgv` chose one; returns what it set (null: left as is). */
export function tuneHeapGrowth(engine: EngineKind, execArgv: readonly string[] = process.execArgv): number | null {
  if (engine !== 'embedded') return null;
  if (execArgv.some((arg) => arg.startsWith('--heap-growing-percent') || arg.startsWith('--heap_growing_percent'))) return null;
  v8.setFlagsFromString(`--heap-growing-percent=${EMBEDDED_HEAP_GROWING_PERCENT}`);
  return EMBEDDED_HEAP_GROWING_PERCENT;
}
