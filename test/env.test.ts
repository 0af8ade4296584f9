/** Configuration: every variable has a default, and each bad one is named with what is wrong. */
import { describe, expect, test } from 'vitest';
import { parseEnv } from '../src/env.js';

describe('parseEnv', () => {
  test('no variables at all: embedded engine under ./data, port 4000, no Redis, no operator, no JWT', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ NODE_ENV: 'development', PORT: 4000, HOST: '0.0.0.0', DATA_DIR: './data', MAX_BATCH_SIZE: 500, BOOTSTRAP_DEV_TENANT: true, LOG_LEVEL: 'info' });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.OPERATOR_TOKEN).toBeUndefined();
    expect(env.JWT_SECRET).toBeUndefined();
  });

  test('values are read as their types; an empty value counts as unset; other variables are ignored', () => {
    const env = parseEnv({ PORT: '8080', MAX_BATCH_SIZE: '10000', BOOTSTRAP_DEV_TENANT: 'false', DATABASE_URL: 'postgres://u@db:5432/m', REDIS_URL: '', PATH: '/usr/bin' });
    expect(env).toMatchObject({ PORT: 8080, MAX_BATCH_SIZE: 10_000, BOOTSTRAP_DEV_TENANT: false, DATABASE_URL: 'postgres://u@db:5432/m' });
    expect(env.REDIS_URL).toBeUndefined();
    expect(env).not.toHaveProperty('PATH');
  });

  test.each([
    [{ PORT: 'abc' }, 'PORT: Invalid input: expected number, received NaN'],
    [{ PORT: '70000' }, 'PORT: Too big: expected number to be <=65535'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL: DATABASE_URL must be a postgres:// or postgresql:// URL'],
    [{ DATABASE_URL: 'localhost:5432' }, 'DATABASE_URL: DATABASE_URL must be a postgres:// or postgresql:// URL'],
    [{ DATABASE_URL: 'mysql://u@db/m' }, 'DATABASE_URL: DATABASE_URL must be a postgres:// or postgresql:// URL'],
    [{ REDIS_URL: 'redis' }, 'REDIS_URL: REDIS_URL must be a redis:// or rediss:// URL'],
    [{ REDIS_URL: 'http://cache:6379' }, 'REDIS_URL: REDIS_URL must be a redis:// or rediss:// URL'],
    [{ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE: Too small: expected number to be >=1'],
    [{ MAX_BATCH_SIZE: '10001' }, 'MAX_BATCH_SIZE: Too big: expected number to be <=10000'],
    [{ MAX_BATCH_SIZE: '1.5' }, 'MAX_BATCH_SIZE: Invalid input: expected int, received number'],
    [{ OPERATOR_TOKEN: 'short' }, 'OPERATOR_TOKEN: OPERATOR_TOKEN must be at least 16 characters'],
    [{ JWT_SECRET: 'not-32-characters' }, 'JWT_SECRET: JWT_SECRET must be at least 32 characters'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV: Invalid option: expected one of "development"|"production"|"test"'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: Invalid option: expected one of "debug"|"info"|"warn"|"error"|"silent"'],
    [{ BOOTSTRAP_DEV_TENANT: 'yes' }, 'BOOTSTRAP_DEV_TENANT: Invalid option: expected one of "true"|"false"'],
    [{ SHUTDOWN_TIMEOUT_MS: '-1' }, 'SHUTDOWN_TIMEOUT_MS: Too small: expected number to be >=0'],
  ])('%o is refused with "%s"', (source, line) => {
    expect(() => parseEnv(source)).toThrow(new Error(`Invalid environment:\n  ${line}`));
  });

  test('several bad variables are reported together, one line each', () => {
    expect(() => parseEnv({ PORT: 'abc', JWT_SECRET: 'short', OPERATOR_TOKEN: 'short' })).toThrow(
      new Error(
        'Invalid environment:\n' +
          '  PORT: Invalid input: expected number, received NaN\n' +
          '  OPERATOR_TOKEN: OPERATOR_TOKEN must be at least 16 characters\n' +
          '  JWT_SECRET: JWT_SECRET must be at least 32 characters',
      ),
    );
  });
});
