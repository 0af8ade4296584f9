/**
 * How far V8 lets the old generation grow past what survived its last full collection, chosen
 * by engine at start (#13, #16). V8's own growth (up to 4× what is live) is the cheapest in CPU
 * and the most wasteful in memory; a fixed percentage trades one for the other:
 *
 * | bench:abuse peak RSS / bench:ingest server CPU per point | 20 % | 50 % | V8's own |
 * | --- | --- | --- | --- |
 * | embedded engine, peak RSS | 427–441 MB | – | 696 MB |
 * | PostgreSQL, peak RSS | 203 MB | 231 MB | 439–452 MB |
 * | PostgreSQL, server CPU per point (GraphQL / OTLP) | 17–19 / 18–22 µs | +15–20 % over V8's | 9–13 / 11–13 µs |
 *
 * - Embedded: one process holds the service and the engine's WASM memory, so 20 %: the only
 *   setting that keeps it well under 512 MB. Its ingestion is bound by the engine, so the
 *   extra collections cost it little.
 * - PostgreSQL: 50 %, which gives back most of what 20 % cost ingestion while the widest pages
 *   keep the process at half the 512 MB goal (V8's own growth would leave it 60 MB short of it).
 *
 * Set at run time because the image is the same for both. V8 reads the setting at every full
 * collection (test/heap.test.ts checks that setting it here takes effect). A
 * `--heap-growing-percent` on the command line wins over this choice.
 */
import v8 from 'node:v8';
import type { EngineKind } from '../db/connect.js';

export const HEAP_GROWING_PERCENT: Record<EngineKind, number> = { embedded: 20, postgres: 50 };

/** Applies the engine's heap growth unless `execArgv` chose one; returns what it set (null: left as is). */
export function tuneHeapGrowth(engine: EngineKind, execArgv: readonly string[] = process.execArgv): number | null {
  if (execArgv.some((arg) => arg.startsWith('--heap-growing-percent') || arg.startsWith('--heap_growing_percent'))) return null;
  const percent = HEAP_GROWING_PERCENT[engine];
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
