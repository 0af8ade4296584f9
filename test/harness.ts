/**
 * Test fixtures: a real server on port 0 over a real engine, chained as
 * engine → server → tenant → key, the way Hive's integration tests are.
 *
 * Engines: `embedded` (PGlite + TimescaleDB, in memory) always; `postgres` when
 * TEST_DATABASE_URL is set (a fresh database per server, dropped afterwards).
 *
 * Embedded apps share one engine per worker (vitest.config.ts runs files with `isolate: false`,
 * so this module and its engine outlive a file): opening PGlite with TimescaleDB costs several
 * CPU-seconds, most of a small suite's work. Suites stay apart by tenant, as a real deployment's
 * tenants do. A suite that needs a database of its own (it counts rows across tenants, or
 * stops the engine) passes `{ ownEngine: true }`.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { sql } from 'kysely';
import { print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { connect, type Db } from '../src/db/connect.js';
import { migrate } from '../src/db/migrate.js';
import { createServer, openDeps, type Server } from '../src/server.js';
import { CreateApiKey, CreateTenant } from './operations.js';

export type EngineName = 'embedded' | 'postgres';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

if (!TEST_DATABASE_URL) {
  console.warn('TEST_DATABASE_URL is not set: tests against the PostgreSQL server are skipped (they run in CI).');
}

/** The engines to run a suite against: `describe.each(ENGINES)`. */
export const ENGINES: EngineName[] = TEST_DATABASE_URL ? ['embedded', 'postgres'] : ['embedded'];

export const OPERATOR_TOKEN = 'test-operator-token-0123456789';
export const JWT_SECRET = 'test-jwt-secret-0123456789abcdef0123456789';

/** Creates an empty database on the test server and returns its URL and a drop function. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const name = `mg_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string; [key: string]: unknown } }>;
}

export interface TestApp {
  engine: EngineName;
  url: string;
  /** The PostgreSQL database of a `postgres` app (a second instance may share it); undefined on the embedded engine. */
  databaseUrl: string | undefined;
  server: Server;
  /** POSTs a typed document; returns the parsed body (never throws on GraphQL errors). */
  gql<R, V>(document: TypedDocumentNode<R, V> | DocumentNode | string, variables?: V, token?: string): Promise<GraphQLResponse<R>>;
  /**
   * Like gql, with variables the document's types would not allow: how a test sends what a
   * careless or hostile client might (a string for a Float, an unknown enum value, a number as a tag).
   */
  send<R>(document: TypedDocumentNode<R, any>, variables: Record<string, unknown>, token?: string): Promise<GraphQLResponse<R>>;
  /** Like gql, also returning the HTTP status. */
  post<R>(body: unknown, token?: string, headers?: Record<string, string>): Promise<{ status: number; body: GraphQLResponse<R> }>;
  /** Creates a tenant through the operator mutation; returns its id and ADMIN key. */
  createTenant(name?: string): Promise<{ tenantId: string; adminKey: string }>;
  /** Creates a key with `role` in the tenant of `adminKey`. */
  createKey(adminKey: string, role: 'ADMIN' | 'MANAGER' | 'DEVELOPER' | 'VIEWER'): Promise<{ id: string; key: string }>;
  /**
   * Runs the late-points job until no range of this app's tenants (those createTenant made) is
   * left, as its ticks would; returns the rows handled. Other suites' tenants on a shared engine
   * are theirs to take in: draining every suite's rows made a late suite pay for all the earlier
   * ones (over 240 s in CI). One run stops after a bounded time (src/jobs/late-points.ts
   * RUN_HOLD_MS), so how much one run takes depends on the machine.
   */
  takeInLatePoints(): Promise<number>;
  close(): Promise<void>;
}

/** Counts an embedded engine start; with TEST_ENGINE_STARTS_FILE set, also appends a line there (to count a whole run's). */
function countEmbeddedStart(kind: 'shared' | 'own') {
  if (process.env.TEST_ENGINE_STARTS_FILE) appendFileSync(process.env.TEST_ENGINE_STARTS_FILE, `${process.pid} ${kind}\n`);
}

// On globalThis so that a re-evaluated harness module (a runner that isolates after all) still finds it.
const SHARED = Symbol.for('metrograph.test.sharedEmbedded');
type SharedHolder = { [SHARED]?: Promise<Db> };

async function openEmbeddedEngine(): Promise<Db> {
  countEmbeddedStart('shared');
  const log = createLogger('silent');
  const db = await connect({ log });
  await migrate(db, log);
  return db;
}

/** This worker's shared embedded engine, opened and migrated on first use; never closed (the worker's exit ends it). */
export function sharedEmbedded(): Promise<Db> {
  const holder = globalThis as SharedHolder;
  // A failed open is not cached: the next suite tries again instead of failing the same way.
  return (holder[SHARED] ??= openEmbeddedEngine().catch((error) => {
    holder[SHARED] = undefined;
    throw error;
  }));
}

export interface StartOptions {
  /** Embedded only: open an engine for this app alone instead of the worker's shared one. */
  ownEngine?: boolean;
}

export async function startApp(engine: EngineName, env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestApp> {
  // A DATABASE_URL in `env` shares another app's database (a second instance); it is not dropped here.
  const database = engine === 'postgres' && !env.DATABASE_URL ? await createTestDatabase() : undefined;
  const parsed = parseEnv({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    OPERATOR_TOKEN,
    JWT_SECRET,
    // Test data is stamped months back: retention would delete it between two assertions.
    // Retention tests turn it back on or run the job themselves.
    RETENTION_CRON: 'off',
    // Suites share an engine: a rollup tick of one suite's app would show in another's jobRuns.
    REPORT_ROLLUP_CRON: 'off',
    // Suites share an engine: a tick would take in every suite's late points (seconds of engine
    // time each) while other suites' requests wait. A suite takes in its own: takeInLatePoints.
    LATE_POINTS_CRON: 'off',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  const log = createLogger(process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : parsed.LOG_LEVEL);
  const shared = engine === 'embedded' && !options.ownEngine ? await sharedEmbedded() : undefined;
  if (engine === 'embedded' && !shared) countEmbeddedStart('own');
  const deps = await openDeps(parsed, log, { embeddedDataDir: null, db: shared });
  const server = createServer(deps);
  const url = await server.start(0, '127.0.0.1');
  // A test may stop the server itself (graceful shutdown); close() then must not stop it twice.
  const stop = server.stop;
  let stopped: Promise<void> | undefined;
  server.stop = () => (stopped ??= stop());

  const post: TestApp['post'] = async (body, token, headers = {}) => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as never };
  };
  const gql: TestApp['gql'] = async (document, variables, token) => {
    const query = typeof document === 'string' ? document : print(document as DocumentNode);
    return (await post({ query, variables }, token)).body as never;
  };
  let tenantCount = 0;
  /** The tenants createTenant made: takeInLatePoints takes in theirs. */
  const tenants = new Set<string>();
  const app: TestApp = {
    engine,
    url,
    databaseUrl: env.DATABASE_URL ?? database?.url,
    server,
    gql,
    send: (document, variables, token) => gql(document, variables as never, token),
    post,
    async createTenant(name = `tenant-${++tenantCount}-${randomBytes(3).toString('hex')}`) {
      const result = await gql(CreateTenant, { input: { name } }, OPERATOR_TOKEN);
      if (!result.data) throw new Error(`createTenant failed: ${JSON.stringify(result.errors)}`);
      tenants.add(result.data.createTenant.tenant.id);
      return { tenantId: result.data.createTenant.tenant.id, adminKey: result.data.createTenant.adminKey.key };
    },
    async createKey(adminKey, role) {
      const result = await gql(CreateApiKey, { input: { name: `${role.toLowerCase()} key`, role } }, adminKey);
      if (!result.data) throw new Error(`createApiKey failed: ${JSON.stringify(result.errors)}`);
      return { id: result.data.createApiKey.apiKey.id, key: result.data.createApiKey.key };
    },
    async takeInLatePoints() {
      let handled = 0;
      const tenantIds = [...tenants];
      if (tenantIds.length === 0) return 0;
      for (let run = 0; run < 200; run++) {
        handled += await deps.latePoints.refreshPending({ tenantIds });
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from aggregate_invalidations where tenant_id = any(${tenantIds}::uuid[])`.execute(deps.db.kysely);
        if (rows[0]!.n === 0) return handled;
      }
      throw new Error('late points still recorded after 200 runs of the job');
    },
    async close() {
      await server.stop();
      await deps.close();
      await database?.drop();
    },
  };
  return app;
}

/** The error codes of a response, in order. */
export function codes(response: GraphQLResponse<unknown>): string[] {
  return (response.errors ?? []).map((e) => e.extensions?.code ?? 'NO_CODE');
}
