/**
 * The embedded engine runs on a thread of its own (issue 16): PGlite executes each statement
 * synchronously in WebAssembly, and on the main thread one long statement froze the event loop
 * (health checks, cached answers, WebSocket pings) for as long as it ran.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openEmbedded, type EmbeddedEngine } from '../src/db/embedded.js';

describe('the embedded engine on its own thread', () => {
  let dir: string;
  let engine: EmbeddedEngine;
  let db: Kysely<unknown>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'metrograph-thread-'));
    engine = await openEmbedded(dir);
    db = new Kysely({ dialect: engine.dialect });
    // Spins until a file appears in the data directory, or `seconds` pass.
    await sql`
      create function wait_for_file(name text, seconds int) returns boolean language plpgsql as $$
      declare deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
      begin
        while clock_timestamp() < deadline loop
          if (pg_stat_file(name, true)).size is not null then return true; end if;
        end loop;
        return false;
      end $$`.execute(db);
  }, 120_000);
  afterAll(async () => {
    await db?.destroy();
    await engine?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('while a statement runs, the event loop runs: the file the statement waits for is written during it', async () => {
    // On the main thread the statement would hold the event loop, the file could only be
    // written after it gave up, and it would answer false after 60 s. No timing is measured:
    // the answer is true only if this thread ran while the engine's statement did.
    const waiting = sql<{ seen: boolean }>`select wait_for_file('go', 60) as seen`.execute(db);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeFile(join(dir, 'go'), '');
    expect((await waiting).rows).toEqual([{ seen: true }]);
  }, 90_000);

  test("an engine error crosses with its SQLSTATE and message; values cross with their types", async () => {
    await expect(sql`select 1 / 0`.execute(db)).rejects.toMatchObject({ code: '22012', message: 'division by zero' });
    const at = new Date('2026-12-03T07:00:00.123Z');
    const { rows } = await sql<{ at: Date; n: number; bytes: Uint8Array; tags: unknown }>`
      select ${at}::timestamptz as at, 9007199254740991::int8 as n, ${Buffer.from('ab')}::bytea as bytes, ${JSON.stringify({ a: 'b' })}::jsonb as tags`.execute(db);
    expect(rows[0]!.at).toEqual(at);
    expect(rows[0]!.n).toBe(9007199254740991);
    expect([...rows[0]!.bytes]).toEqual([97, 98]);
    expect(rows[0]!.tags).toEqual({ a: 'b' });
    // The engine's WASM memory is read from each reply.
    expect(engine.memoryBytes()).toBeGreaterThan(32 * 2 ** 20);
  });

  test('a parameter that cannot cross to the thread fails its statement, and the engine goes on', async () => {
    await expect(db.executeQuery(CompiledQuery.raw('select $1 as f', [() => 1]))).rejects.toThrow(/could not be cloned/);
    expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
  });

  test('a transaction holds the one connection: statements of others wait for its commit', async () => {
    await sql`create table held (v int)`.execute(db);
    const order: string[] = [];
    const transaction = db.transaction().execute(async (trx) => {
      await sql`insert into held values (1)`.execute(trx);
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('transaction');
    });
    const other = sql<{ n: number }>`select count(*)::int as n from held`.execute(db).then((result) => (order.push('other'), result.rows[0]!.n));
    await transaction;
    expect(await other).toBe(1);
    expect(order).toEqual(['transaction', 'other']);
  });

  test('after close, a statement fails as unavailable (57P01), and closing again does nothing', async () => {
    const own = await openEmbedded(undefined);
    const ownDb = new Kysely({ dialect: own.dialect });
    await own.close();
    await expect(sql`select 1`.execute(ownDb)).rejects.toMatchObject({ code: '57P01' });
    await own.close();
  }, 120_000);
});
