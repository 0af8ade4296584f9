/**
 * The embedded engine's memory settings (issue 16): shared_buffers as configured instead of
 * PGlite's compiled-in 128 MB, and the WASM memory it sizes, reported on /metrics.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect, type Db } from '../src/db/connect.js';
import { createLogger } from '../src/log.js';
import { startApp, type TestApp } from './harness.js';

const log = createLogger('silent');
const setting = async (db: Db, name: 'shared_buffers' | 'work_mem') =>
  (await sql<Record<string, string>>`select current_setting(${name}) as value`.execute(db.kysely)).rows[0]!.value;

describe('embedded engine memory', () => {
  let app: TestApp;
  beforeAll(async () => {
    // An engine of its own: the shared test engine's WASM memory has grown with every suite before this one, and never shrinks.
    app = await startApp('embedded', {}, { ownEngine: true });
  }, 180_000); // opening PGlite and migrating: fixed work a busy machine stretches
  afterAll(() => app?.close());

  test("the default engine runs with 32 MB of shared buffers and PostgreSQL's 4 MB work_mem", async () => {
    expect(await setting(app.server.deps.db, 'shared_buffers')).toBe('32MB');
    expect(await setting(app.server.deps.db, 'work_mem')).toBe('4MB');
  });

  test('/metrics reports the WASM memory, which holds the shared buffers', async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const bytes = Number(/^metrograph_embedded_engine_memory_bytes (\d+)$/m.exec(text)?.[1]);
    expect(bytes).toBe(app.server.deps.db.engineMemoryBytes!());
    // 32 MB of buffers plus the backend's memory; PGlite's shipped 128 MB made it 174 MB.
    expect(bytes).toBeGreaterThan(32 * 2 ** 20);
    expect(bytes).toBeLessThan(128 * 2 ** 20);
  });

  test('EMBEDDED_SHARED_BUFFERS_MB sets another size', async () => {
    const db = await connect({ log, embeddedSharedBuffersMb: 7 });
    try {
      expect(await setting(db, 'shared_buffers')).toBe('7MB');
      expect(await setting(db, 'work_mem')).toBe('4MB');
    } finally {
      await db.close();
    }
  });
});
