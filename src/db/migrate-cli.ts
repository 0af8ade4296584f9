/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded DATA_DIR) and exits. */
import { parseEnv } from '../env.js';
import { createLogger } from '../log.js';
import { connect } from './connect.js';
import { migrate } from './migrate.js';

const env = parseEnv();
const log = createLogger(env.LOG_LEVEL);
const db = await connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR, log });
try {
  const applied = await migrate(db, log);
  log.info({ count: applied.length }, applied.length ? 'migrations applied' : 'database is up to date');
} finally {
  await db.close();
}
