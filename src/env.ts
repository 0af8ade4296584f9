import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * Every setting the service reads from its environment, with defaults.
 * The service starts with none of them set: embedded TimescaleDB under ./data, no Redis.
 */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** A PostgreSQL URL (TimescaleDB or plain PostgreSQL >= 14). Unset: embedded PGlite + TimescaleDB. */
  DATABASE_URL: z.string().url().optional(),
  /** Where the embedded engine keeps its files; ignored with DATABASE_URL. */
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_POOL_SIZE: positiveInt(1, 200).default(10),
  REDIS_URL: z.string().url().optional(),
  /** Enables createTenant for whoever presents this token. At least 16 characters. */
  OPERATOR_TOKEN: z.string().min(16, 'OPERATOR_TOKEN must be at least 16 characters').optional(),
  /** Enables HS256 JWTs with claims tenant_id, role, exp. At least 32 characters. */
  JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 characters').optional(),
  MAX_BATCH_SIZE: positiveInt(1, 10_000).default(500),
  /** Creates a `dev` tenant and prints its ADMIN key on the first start of an empty embedded database. */
  BOOTSTRAP_DEV_TENANT: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: positiveInt(0, 600_000).default(10_000),
});

export type Env = z.infer<typeof envSchema>;

/** Parses the environment, or throws one error that lists every bad variable and why. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new Error(`Invalid environment:\n${lines.join('\n')}`);
}
