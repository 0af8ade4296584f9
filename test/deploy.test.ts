/**
 * docker-compose.yml and the Dockerfile, checked without Docker: the api service sets only
 * variables src/env.ts reads, with values it accepts, and points them at the compose
 * services; ports, health check and start command agree with each other.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { beforeAll, describe, expect, test } from 'vitest';
import { envSchema, parseEnv, type Env } from '../src/env.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  init?: boolean;
  command?: string[];
}

const root = new URL('../', import.meta.url);
const read = (path: string) => readFile(new URL(path, root), 'utf8');

/**
 * Compose's interpolation with nothing set in the shell: `${X:-default}` gives the default,
 * `${X:?message}` (required) gives `sample`, `${X}` gives ''.
 */
function interpolate(value: string, sample: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, _name: string, kind?: string, rest?: string) => (kind === '-' ? (rest ?? '') : kind === '?' ? sample : ''));
}

describe('docker-compose.yml', () => {
  let services: Record<string, Service>;
  let api: Service;
  let env: Record<string, string>;
  let parsed: Env;
  beforeAll(async () => {
    services = parse(await read('docker-compose.yml')).services;
    api = services.api!;
    env = Object.fromEntries(Object.entries(api.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), 'operator-token-of-32-characters!')]));
    parsed = parseEnv(env);
  });

  test('runs TimescaleDB (pg16), Redis 7 and the API built from the Dockerfile', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'redis', 'timescaledb']);
    expect(services.timescaledb!.image).toBe('timescale/timescaledb:latest-pg16');
    expect(services.redis!.image).toMatch(/^redis:7(\.|-|$)/);
    expect(api.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
  });

  test('sets for the api only variables src/env.ts reads, and the values parse', () => {
    const known = Object.keys(envSchema.shape);
    expect(Object.keys(env).filter((key) => !known.includes(key))).toEqual([]);
    expect(parsed).toMatchObject({ NODE_ENV: 'production', PORT: 4000, HOST: '0.0.0.0', OPERATOR_TOKEN: 'operator-token-of-32-characters!' });
    // JWT_SECRET left empty is unset, not a too-short secret.
    expect(parsed.JWT_SECRET).toBeUndefined();
  });

  test('OPERATOR_TOKEN is required: compose refuses to start without it', () => {
    expect(api.environment!.OPERATOR_TOKEN).toMatch(/^\$\{OPERATOR_TOKEN:\?.+\}$/);
  });

  test('DATABASE_URL and REDIS_URL point at the compose services, with their database and password', () => {
    const database = new URL(parsed.DATABASE_URL!);
    const timescale = services.timescaledb!.environment!;
    expect([database.protocol, database.hostname, database.port, database.pathname]).toEqual(['postgres:', 'timescaledb', '5432', `/${timescale.POSTGRES_DB}`]);
    expect(database.username).toBe(timescale.POSTGRES_USER);
    expect(database.password).toBe(interpolate(timescale.POSTGRES_PASSWORD!, ''));
    const redis = new URL(parsed.REDIS_URL!);
    expect([redis.protocol, redis.hostname, redis.port]).toEqual(['redis:', 'redis', '6379']);
  });

  test('the published port, the health check and PORT agree', () => {
    expect(api.ports).toHaveLength(1);
    const containerPort = Number(api.ports![0]!.split(':').at(-1));
    expect(containerPort).toBe(parsed.PORT);
    expect(api.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${parsed.PORT}/health`);
  });

  test('the api starts after healthy TimescaleDB and Redis', () => {
    expect(api.depends_on).toEqual({ timescaledb: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(services.timescaledb!.healthcheck!.test).toContain('pg_isready');
    expect(services.redis!.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  test('Docker waits longer than SHUTDOWN_TIMEOUT_MS before killing the api, and SIGTERM reaches it', () => {
    const grace = /^(\d+)s$/.exec(api.stop_grace_period ?? '');
    expect(Number(grace?.[1]) * 1000).toBeGreaterThan(parsed.SHUTDOWN_TIMEOUT_MS);
    expect(api.init).toBe(true);
  });

  test("runs the image's CMD with 32 MB semi-spaces, as README advises with a database server, and nothing else changed", async () => {
    const cmd = JSON.parse(/^CMD (\[.*\])\s*$/m.exec(await read('Dockerfile'))![1]!) as string[];
    expect(api.command).toEqual(cmd.map((arg) => (arg === '--max-semi-space-size=8' ? '--max-semi-space-size=32' : arg)));
    expect(api.command).not.toEqual(cmd);
    expect(env.DATABASE_URL).toMatch(/^postgres:\/\//);
  });
});

describe('Dockerfile', () => {
  let lines: string[];
  beforeAll(async () => {
    lines = (await read('Dockerfile')).split('\n').filter((line) => line.trim() && !line.startsWith('#'));
  });

  test('compiles in a build stage and runs node on dist/main.js in a slim stage without dev dependencies', () => {
    expect(lines[0]).toBe('FROM node:20-slim AS build');
    expect(lines).toContain('RUN npm run build');
    const runtime = lines.slice(lines.lastIndexOf('FROM node:20-slim'));
    expect(runtime.length).toBeGreaterThan(1);
    expect(runtime).toContain('RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force');
    expect(runtime).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime).toContain('COPY migrations ./migrations');
    expect(runtime).toContain('COPY proto ./proto');
    expect(runtime.at(-1)).toBe('CMD ["node", "--max-semi-space-size=8", "--v8-pool-size=1", "dist/main.js"]');
    // The embedded engine's thread would otherwise add malloc arenas that keep what they freed.
    expect(runtime).toContain('ENV MALLOC_ARENA_MAX=2');
    // A fixed trim threshold: freed memory goes back to the system instead of staying in the arenas.
    expect(runtime).toContain('ENV MALLOC_TRIM_THRESHOLD_=131072');
  });

  test('the lock file comes before npm ci in each stage, and npm start stays the one-command start', async () => {
    for (const from of [lines.indexOf('FROM node:20-slim AS build'), lines.lastIndexOf('FROM node:20-slim')]) {
      const stage = lines.slice(from);
      expect(stage.indexOf('COPY package.json package-lock.json ./')).toBeGreaterThan(-1);
      expect(stage.indexOf('COPY package.json package-lock.json ./')).toBeLessThan(stage.findIndex((line) => line.startsWith('RUN npm ci')));
    }
    const pkg = JSON.parse(await read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string> };
    // One process: the tsx CLI would run the service as its child and stay beside it (~70 MB more RSS, signals relayed).
    expect(pkg.scripts.start).toBe('node --import tsx src/main.ts');
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig.build.json/);
    expect(pkg.scripts['start:dist']).toBe('MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=8 --v8-pool-size=1 dist/main.js');
    // tsc emits only TypeScript: the embedded engine's thread (plain JavaScript, started from
    // its file) is copied beside dist/db/embedded.js, which starts it.
    expect(pkg.scripts.build).toContain("fs.cpSync('src/db/embedded-thread.js', 'dist/db/embedded-thread.js')");
    // What dist/main.js imports at run time must be a dependency, not a devDependency.
    expect(pkg.dependencies.tsx).toBeUndefined();
  });

  test('exposes the port PORT defaults to in the image', () => {
    expect(lines).toContain('ENV PORT=4000 HOST=0.0.0.0');
    expect(lines).toContain('EXPOSE 4000');
  });

  test('.dockerignore keeps node_modules and local data out of the build context', async () => {
    const ignored = (await read('.dockerignore')).split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'data', '.git']));
  });
});
