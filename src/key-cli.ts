/**
 * `npm run key -- --tenant <name or id> [--name <key name>]`: prints a new ADMIN key for the
 * tenant, on the database the service uses (DATA_DIR's embedded engine, or DATABASE_URL).
 * The embedded engine is one process's: stop the service first.
 */
import { parseArgs } from 'node:util';
import { GraphQLError } from 'graphql';
import { parseEnv } from './env.js';
import { createLogger } from './log.js';
import { connect } from './db/connect.js';
import { migrate } from './db/migrate.js';
import { mintAdminKey } from './ops/mint-key.js';
import { portTaken } from './startup.js';

const USAGE = 'Usage: npm run key -- --tenant <name or id> [--name <key name>]';

let args: { tenant?: string; name?: string };
try {
  args = parseArgs({ options: { tenant: { type: 'string' }, name: { type: 'string' } } }).values;
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (!args.tenant) {
  console.error(USAGE);
  process.exit(2);
}

const env = parseEnv();
const log = createLogger(env.LOG_LEVEL === 'info' ? 'warn' : env.LOG_LEVEL);
if (!env.DATABASE_URL) {
  // Two processes on one PGlite directory corrupt it: a service answering on PORT is taken as running on it.
  if (await portTaken(env.PORT, env.HOST)) {
    console.error(`Something listens on port ${env.PORT}: if it is Metrograph on ${env.DATA_DIR}, stop it first (the embedded database is one process's), then run this again.`);
    process.exit(1);
  }
  console.error(`Opening the embedded database in ${env.DATA_DIR}…`);
}
const db = await connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR, log });
let code = 0;
try {
  await migrate(db, log);
  const { tenant, key } = await mintAdminKey(db.kysely, args.tenant, args.name);
  process.stdout.write(
    `New ADMIN key for tenant "${tenant.name}" (${tenant.id}), shown this once:\n\n  ${key}\n\n` + `In GraphiQL, open Headers and paste: {"Authorization": "Bearer ${key}"}\n`,
  );
} catch (error) {
  console.error(error instanceof GraphQLError ? error.message : error);
  code = 1;
} finally {
  await db.close();
}
process.exit(code);
