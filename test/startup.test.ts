/**
 * `npm start` and `npm run key` as a newcomer meets them, run as the processes they are: a
 * port in use is one line and exit 1; a start prints each slow step, then the dev key; a lost
 * key comes back with `npm run key`. The engine opens in child processes here, so the
 * whole-process tests get a timeout of their own: opening PGlite is fixed work that a busy
 * machine stretches.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { findTenant, mintAdminKey } from '../src/ops/mint-key.js';
import { openDeps } from '../src/server.js';
import { portInUseMessage } from '../src/startup.js';
import { OPERATOR_TOKEN, startApp, type TestApp } from './harness.js';
import { AuditLog, Tenant } from './operations.js';

const PROCESS_TIMEOUT_MS = 10 * 60_000;

/**
 * Runs a script as `npm start` and `npm run key` do: one Node process with tsx's loader. (The
 * tsx command would run it in a second process and relay signals to it, and a SIGINT relayed
 * twice on a busy machine reads as a second Ctrl-C: exit 130.) `until` resolves early (the
 * child keeps running) once stdout matches.
 */
function run(script: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (d) => {
    stdout += String(d);
    waiters.splice(0).forEach((w) => w());
  });
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => ({ stdout, stderr }),
    async until(pattern: RegExp) {
      while (!pattern.test(stdout)) {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stdout}${stderr}`);
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), exited]);
      }
      return stdout;
    },
  };
}

async function listening(): Promise<NetServer> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('npm start', () => {
  test('a port in use: one line saying to set PORT, exit 1, before the database opens', async () => {
    const taken = await listening();
    const port = (taken.address() as AddressInfo).port;
    try {
      const dataDir = join(tmpdir(), 'mg-never-created');
      const start = run('src/main.ts', [], { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir });
      expect(await start.exited).toBe(1);
      expect(start.output()).toEqual({ stdout: '', stderr: `${portInUseMessage(port, '127.0.0.1')}\n` });
      expect(portInUseMessage(port, '127.0.0.1')).toBe(`Port ${port} on 127.0.0.1 is already in use (another Metrograph?). Set PORT to a free one, e.g. PORT=${port + 1} npm start`);
    } finally {
      taken.close();
    }
    // A tsx process start: fixed work a busy machine stretches past 30 s.
  }, PROCESS_TIMEOUT_MS);

  test(
    'a first start prints its steps and the dev key; npm run key mints another ADMIN key for that tenant; both work',
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'mg-start-'));
      try {
        const free = await listening();
        const port = (free.address() as AddressInfo).port;
        free.close();
        const env = { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, OPERATOR_TOKEN };
        const start = run('src/main.ts', [], env);
        const out = await start.until(/Bearer (mg_\S+)"/);
        // "… still <step> (N s)" lines come as often as the open takes 5 s more: not counted.
        const lines = out.split('\n').filter((line) => !line.startsWith('  … still '));
        expect(lines.slice(0, 4)).toEqual([
          'Metrograph is starting (the embedded database takes about 20 s to open; the first start also creates it)',
          `  opening the embedded database (${dataDir})…`,
          '  applying migrations…',
          `  listening on 127.0.0.1:${port}…`,
        ]);
        expect(lines[4]).toMatch(/^ {2}ready in \d+\.\d s$/);
        expect(out).toContain(`Metrograph is running: GraphiQL at http://127.0.0.1:${port}/graphql`);
        const devKey = /Bearer (mg_\S+)"/.exec(out)![1]!;
        start.child.kill('SIGINT');
        expect(await start.exited).toBe(0);

        const usage = run('src/key-cli.ts', [], env);
        expect(await usage.exited).toBe(2);
        expect(usage.output().stderr).toBe('Usage: npm run key -- --tenant <name or id> [--name <key name>]\n');

        const minted = run('src/key-cli.ts', ['--tenant', 'dev'], env);
        expect(await minted.exited).toBe(0);
        const newKey = /^ {2}(mg_\S+)$/m.exec(minted.output().stdout)?.[1];
        expect(newKey).toMatch(/^mg_/);
        expect(newKey).not.toBe(devKey);

        // Both keys are the dev tenant's ADMIN keys.
        const deps = await openDeps(parseEnv({ LOG_LEVEL: 'silent' }), createLogger('silent'), { embeddedDataDir: dataDir });
        try {
          const [old, fresh] = [await deps.auth.authenticate(devKey), await deps.auth.authenticate(newKey)];
          expect(fresh).toMatchObject({ kind: 'tenant', role: 'ADMIN', tenantId: (old as { tenantId: string }).tenantId });
        } finally {
          await deps.close();
        }
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
    PROCESS_TIMEOUT_MS,
  );
});

describe('mintAdminKey (what npm run key runs)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp('embedded');
  });
  afterAll(() => app?.close());

  test('by name or id: a working ADMIN key of that tenant, audited; another tenant sees nothing of it', async () => {
    const a = await app.createTenant();
    const b = await app.createTenant();
    const kysely = app.server.deps.db.kysely;
    const { tenant } = await mintAdminKey(kysely, a.tenantId);
    const byName = await mintAdminKey(kysely, tenant.name, 'laptop');
    expect((await app.gql(Tenant, {}, byName.key)).data).toEqual({ tenant: { id: a.tenantId, name: tenant.name } });
    const entries = (await app.gql(AuditLog, { filter: { actions: ['API_KEY_CREATED'] } }, a.adminKey)).data!.auditLog.entries;
    expect(entries.filter((e) => e.target === byName.keyId).map((e) => [e.actor.kind, typeof e.details === 'string' ? JSON.parse(e.details) : e.details])).toEqual([[expect.stringMatching(/^operator$/i), { name: 'laptop', role: 'ADMIN', prefix: byName.key.slice(0, 10) }]]);
    const theirs = (await app.gql(AuditLog, { filter: { actions: ['API_KEY_CREATED'] } }, b.adminKey)).data!.auditLog.entries;
    expect(theirs.some((e) => e.target === byName.keyId)).toBe(false);
  });

  test('an unknown tenant is NOT_FOUND', async () => {
    await expect(findTenant(app.server.deps.db.kysely, 'no-such-tenant-x')).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
  });
});
