/**
 * The service as a whole: the two run modes (embedded TimescaleDB, PostgreSQL without it)
 * give the same API answers and differ only in what /health reports; migrations apply once
 * each, TimescaleDB-only files only where it exists; stopping lets in-flight requests finish.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { migrate, MIGRATIONS_DIR } from '../src/db/migrate.js';
import { createLogger } from '../src/log.js';
import { ENGINES, startApp, TEST_REDIS_URL, type TestApp } from './harness.js';
import { MetricPoints, Metrics, RecordMetric, RecordMetrics, Tenant } from './operations.js';

const silent = createLogger('silent');

/**
 * One script of calls and the answers both engines must give, word for word. Ids the server
 * makes up are replaced by their order of appearance.
 */
const TRANSCRIPT = [
  { recordMetric: { id: '<id 1>', duplicate: false, point: { id: '<id 1>', metric: 'http.requests', type: 'COUNTER', unit: 'requests', tags: { route: '/a' }, timestamp: '2026-03-01T10:00:00.000Z', value: 3 } } },
  { recordMetrics: { accepted: 2, duplicates: 0, ids: ['<id 2>', '<id 3>'], failed: [{ index: 1, id: null, code: 'BAD_USER_INPUT' }] } },
  {
    metricPoints: {
      points: [
        { id: '<id 3>', metric: 'http.requests', type: 'COUNTER', unit: 'requests', tags: { route: '/b' }, timestamp: '2026-03-01T10:02:00.000Z', value: 0 },
        { id: '<id 2>', metric: 'http.requests', type: 'COUNTER', unit: 'requests', tags: { route: '/a' }, timestamp: '2026-03-01T10:01:00.000Z', value: 2.5 },
      ],
      nextCursor: '<cursor 1>',
    },
  },
  { metrics: [{ name: 'http.requests', type: 'COUNTER', unit: 'requests', seriesCount: 2 }] },
  { error: 'BAD_USER_INPUT' },
];

describe.each(ENGINES)('the service on %s', (engine) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(engine, TEST_REDIS_URL ? { REDIS_URL: TEST_REDIS_URL } : {});
  });
  afterAll(() => app?.close());

  test(`/health reports the database engine, TimescaleDB ${engine === 'embedded' ? 'on' : 'off'}, and Redis`, async () => {
    const response = await fetch(`${app.url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({
      status: 'ok',
      database: { status: 'up', engine, timescaledb: engine === 'embedded' },
      redis: TEST_REDIS_URL ? { status: 'up' } : { status: 'not configured' },
    });
  });

  test('answers a script of calls exactly as the other engine does', async () => {
    const { adminKey } = await app.createTenant();
    const answers: unknown[] = [];
    const say = (response: { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> }) =>
      answers.push(response.errors ? { error: response.errors.map((e) => e.extensions?.code).join() } : response.data);

    say(await app.gql(RecordMetric, { input: { name: 'http.requests', value: 3, type: 'COUNTER', unit: 'requests', tags: { route: '/a' }, timestamp: '2026-03-01T10:00:00Z' } }, adminKey));
    say(
      await app.gql(
        RecordMetrics,
        {
          metrics: [
            { name: 'http.requests', value: 2.5, type: 'COUNTER', tags: { route: '/a' }, timestamp: '2026-03-01T10:01:00+00:00' },
            { name: 'http.requests', value: -1, type: 'COUNTER', tags: { route: '/a' }, timestamp: '2026-03-01T10:01:30Z' },
            { name: 'http.requests', value: 0, type: 'COUNTER', tags: { route: '/b' }, timestamp: '2026-03-01T11:02:00+01:00' },
          ],
        },
        adminKey,
      ),
    );
    say(await app.gql(MetricPoints, { input: { metric: 'http.requests', limit: 2 } }, adminKey));
    say(await app.gql(Metrics, { prefix: 'http' }, adminKey));
    say(await app.gql(RecordMetric, { input: { name: 'http.requests', value: 1, type: 'GAUGE' } }, adminKey));

    // Replace made-up ids and cursors by their order of appearance.
    const seen = new Map<string, string>();
    const normalised = JSON.parse(JSON.stringify(answers), (key, value) => {
      if (typeof value !== 'string') return value;
      if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) {
        if (!seen.has(value)) seen.set(value, `<id ${[...seen.values()].filter((v) => v.startsWith('<id')).length + 1}>`);
        return seen.get(value);
      }
      if (key === 'nextCursor') return '<cursor 1>';
      return value;
    });
    expect(normalised).toEqual(TRANSCRIPT);
  });

  describe('migrations', () => {
    test('every file in migrations/ is recorded once; TimescaleDB-only files are skipped without TimescaleDB', async () => {
      const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
      expect(files.some((f) => f.endsWith('.timescale.sql'))).toBe(true);
      const rows = await app.server.deps.db.kysely.selectFrom('metrograph_migrations').select(['name', 'skipped']).orderBy('name').execute();
      expect(rows).toEqual(files.map((name) => ({ name, skipped: engine === 'postgres' && name.endsWith('.timescale.sql') })));
    });

    test('a second run applies nothing', async () => {
      const db = app.server.deps.db;
      const before = await db.kysely.selectFrom('metrograph_migrations').selectAll().orderBy('name').execute();
      expect(await migrate(db, silent)).toEqual([]);
      expect(await db.kysely.selectFrom('metrograph_migrations').selectAll().orderBy('name').execute()).toEqual(before);
    });

    test(`the points table is ${engine === 'embedded' ? 'a hypertable' : 'a plain table, and TimescaleDB is not installed'}`, async () => {
      const db = app.server.deps.db.kysely;
      const extension = await sql<{ n: number }>`select count(*)::int as n from pg_extension where extname = 'timescaledb'`.execute(db);
      expect(extension.rows[0]!.n).toBe(engine === 'embedded' ? 1 : 0);
      if (engine === 'embedded') {
        const hypertables = await sql<{ name: string }>`select hypertable_name as name from timescaledb_information.hypertables where hypertable_schema = 'public' and hypertable_name = 'points'`.execute(db);
        expect(hypertables.rows).toEqual([{ name: 'points' }]);
      }
    });

    describe('in a directory of our own', () => {
      let dir: string;
      beforeAll(async () => {
        dir = await mkdtemp(join(tmpdir(), 'mg-migrations-'));
      });
      afterAll(() => rm(dir, { recursive: true, force: true }));

      test('files apply in name order, each in its own transaction: a broken file leaves nothing behind and is retried', async () => {
        const db = app.server.deps.db;
        const prefix = `t${Date.now()}`;
        await writeFile(join(dir, `${prefix}_1.sql`), `create table ${prefix}_one (id int); insert into ${prefix}_one values (1);`);
        await writeFile(join(dir, `${prefix}_2.timescale.sql`), `create table ${prefix}_two (id int);`);
        await writeFile(join(dir, `${prefix}_3.sql`), `create table ${prefix}_three (id int); insert into ${prefix}_three values ('not a number');`);

        await expect(migrate(db, silent, dir)).rejects.toThrow(/invalid input syntax for type integer/);
        const exists = async (table: string) => (await sql<{ t: string | null }>`select to_regclass(${table})::text as t`.execute(db.kysely)).rows[0]!.t !== null;
        expect([await exists(`${prefix}_one`), await exists(`${prefix}_two`), await exists(`${prefix}_three`)]).toEqual([true, engine === 'embedded', false]);

        await writeFile(join(dir, `${prefix}_3.sql`), `create table ${prefix}_three (id int); insert into ${prefix}_three values (3);`);
        expect(await migrate(db, silent, dir)).toEqual([`${prefix}_3.sql`]);
        expect(await migrate(db, silent, dir)).toEqual([]);
        const recorded = await db.kysely.selectFrom('metrograph_migrations').select(['name', 'skipped']).where('name', 'like', `${prefix}%`).orderBy('name').execute();
        expect(recorded).toEqual([
          { name: `${prefix}_1.sql`, skipped: false },
          { name: `${prefix}_2.timescale.sql`, skipped: engine === 'postgres' },
          { name: `${prefix}_3.sql`, skipped: false },
        ]);
      });

      test('two instances migrating at once apply each file once', async () => {
        const db = app.server.deps.db;
        const prefix = `c${Date.now()}`;
        for (let i = 1; i <= 3; i++) await writeFile(join(dir, `${prefix}_${i}.sql`), `create table ${prefix}_${i} (id int); select pg_sleep(0.02);`);
        const [first, second] = await Promise.all([migrate(db, silent, dir), migrate(db, silent, dir)]);
        expect([...first, ...second].filter((name) => name.startsWith(prefix)).sort()).toEqual([1, 2, 3].map((i) => `${prefix}_${i}.sql`));
      });
    });
  });
});

describe.each(ENGINES)('stopping the service on %s', (engine) => {
  let app: TestApp;
  beforeAll(async () => {
    // Redis at a port where nothing listens: the service starts anyway and /health says so.
    app = await startApp(engine, { REDIS_URL: 'redis://127.0.0.1:1', SHUTDOWN_TIMEOUT_MS: '600000' });
  });
  afterAll(() => app?.close());

  test('/health stays ready while Redis is unreachable, naming Redis as down (degraded): writes and queries go on without it', async () => {
    const response = await fetch(`${app.url}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, { status: string }>;
    expect(body).toMatchObject({ status: 'ok', database: { status: 'up', engine }, redis: { status: 'down', degraded: true } });
  });

  test('stop() refuses new connections but lets an in-flight request finish', async () => {
    const { tenantId, adminKey } = await app.createTenant('shutdown-tenant');
    expect((await app.gql(Tenant, {}, adminKey)).data?.tenant.id).toBe(tenantId); // the key is now cached

    // Hold the tenants table so the next request waits inside the database.
    let release!: () => void;
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = app.server.deps.db.kysely.transaction().execute(async (trx) => {
      await sql`lock table tenants in access exclusive mode`.execute(trx);
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await lockTaken;

    // The request is in once the server authenticates it (it then waits inside the database).
    const auth = app.server.deps.auth;
    const authenticate = auth.authenticate;
    let arrived!: () => void;
    const inServer = new Promise<void>((resolve) => (arrived = resolve));
    auth.authenticate = (token) => {
      arrived();
      return authenticate.call(auth, token);
    };
    const inFlight = app.gql(Tenant, {}, adminKey);
    await inServer;
    auth.authenticate = authenticate;
    let stopped = false;
    const stopping = app.server.stop().then(() => (stopped = true));
    await sleep(200); // stop() had time to finish if it did not wait for the request
    expect(stopped).toBe(false);
    await expect(fetch(`${app.url}/health`)).rejects.toThrow();

    release();
    await holder;
    expect(await inFlight).toEqual({ data: { tenant: { id: tenantId, name: 'shutdown-tenant' } } });
    // stop() ends once the request has: this app's shutdown timeout is longer than the test's,
    // so a stop that waited for the timeout instead would fail the test, however fast the machine.
    await stopping;
  });
});
