/**
 * `npm start`: environment → database (migrated) → server; prints the URL (and, on a new
 * embedded database, a dev tenant's ADMIN key); shuts down gracefully on SIGTERM/SIGINT.
 */
import { sql } from 'kysely';
import { parseEnv, type Env } from './env.js';
import { createLogger, type Logger } from './log.js';
import { openDeps } from './deps.js';
import { createServer } from './server.js';
import { isPortInUse, portInUseMessage, portTaken, startupProgress } from './startup.js';
import { createTenant } from './db/tenants.js';
import type { Db } from './db/connect.js';
import { tuneHeapGrowth } from './ops/heap.js';

let env: Env;
try {
  env = parseEnv();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
const log = createLogger(env.LOG_LEVEL);
// Told before the slow start, not after it.
if (await portTaken(env.PORT, env.HOST)) {
  console.error(portInUseMessage(env.PORT, env.HOST));
  process.exit(1);
}
const say = (line: string) => process.stdout.write(`${line}\n`);
say(`Metrograph is starting${env.DATABASE_URL ? '' : ' (the embedded database takes about 20 s to open; the first start also creates it)'}`);
const progress = startupProgress(say);
const deps = await openDeps(env, log, { progress: progress.step });
const heapGrowth = tuneHeapGrowth(deps.db.kind);
if (heapGrowth !== null) log.info({ heapGrowingPercent: heapGrowth }, 'V8 heap growth set for the engine (src/ops/heap.ts)');
const devKey = deps.db.kind === 'embedded' && env.BOOTSTRAP_DEV_TENANT ? await bootstrapDevTenant(deps.db, log) : null;
const server = createServer(deps);
progress.step(`listening on ${env.HOST}:${env.PORT}`);
let url: string;
try {
  url = await server.start(env.PORT, env.HOST);
} catch (error) {
  if (!isPortInUse(error)) throw error;
  // Taken while the database opened.
  console.error(portInUseMessage(env.PORT, env.HOST));
  await deps.close();
  process.exit(1);
}
// Graceful from here on, before anything is printed that a user (or a test) would answer with Ctrl-C.
let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  try {
    await server.stop();
    await deps.close();
    process.exit(0);
  } catch (error) {
    log.error({ err: (error as Error).message }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
say(`  ready in ${(progress.done() / 1000).toFixed(1)} s`);

log.info({ url: `${url}/graphql` }, 'metrograph is listening');
process.stdout.write(`\nMetrograph is running: GraphiQL at ${url}/graphql, dashboard at ${url}/, health at ${url}/health\n`);
if (devKey) {
  process.stdout.write(
    `\nCreated tenant "dev". Its ADMIN API key, shown this once:\n\n  ${devKey}\n\n` +
      `In GraphiQL, open Headers and paste: {"Authorization": "Bearer ${devKey}"}\n\n`,
  );
}


/**
 * On the first start of an embedded database, a `dev` tenant so a newcomer can try GraphiQL
 * at once. Recorded in service_state so it happens once even if the tenant is renamed.
 */
async function bootstrapDevTenant(db: Db, log: Logger): Promise<string | null> {
  const claimed = await sql<{ key: string }>`
    insert into service_state (key, value) values ('dev_tenant_bootstrapped', 'true')
    on conflict do nothing returning key`.execute(db.kysely);
  if (claimed.rows.length === 0) return null;
  const { tenant, key } = await createTenant(db.kysely, 'dev');
  log.info({ tenantId: tenant.id }, 'created the dev tenant');
  return key;
}
