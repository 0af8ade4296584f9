/**
 * What the benchmarks share: a throwaway database on a PostgreSQL server, the real service
 * started as a child process (its own event loop and heap, as in production), and readings
 * of a process's CPU time and resident memory from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Creates an empty database on the server of `adminUrl`; `drop` removes it. */
export async function freshDatabase(adminUrl: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `mg_bench_${randomBytes(5).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => adminQuery(adminUrl, `drop database if exists ${name} with (force)`) };
}

/** Extra server environment from BENCH_SERVER_ENV (`K=V,K=V`). */
export function serverEnvFromBench(): Record<string, string> {
  return Object.fromEntries(
    (process.env.BENCH_SERVER_ENV ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=', 2) as [string, string]),
  );
}

/**
 * How the image runs the service, from the Dockerfile, so the build runs here exactly as the
 * image runs it: the node arguments of its CMD (the last line), and its ENV settings for the
 * process (MALLOC_ARENA_MAX, …) but not where it listens, which the bench picks.
 */
function imageRun(): { args: string[]; env: Record<string, string> } {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const cmd = /^CMD (\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (!cmd) throw new Error('the Dockerfile has no CMD ["node", …] line');
  const env: Record<string, string> = {};
  for (const [, line] of dockerfile.matchAll(/^ENV (.+)$/gm)) {
    for (const pair of line!.trim().split(/\s+/)) {
      const [name, value] = pair.split('=', 2) as [string, string];
      if (name !== 'PORT' && name !== 'HOST') env[name] = value;
    }
  }
  return { args: (JSON.parse(cmd) as string[]).slice(1), env };
}

/**
 * Starts `src/main.ts` on a free port with `env` (over the defaults: production, jobs that
 * would only add noise off); resolves once it prints its URL. Logs go nowhere unless
 * BENCH_SERVER_LOGS is set; BENCH_SERVER_NODE_ARGS adds node flags (e.g. `--cpu-prof`).
 * BENCH_SERVER_DIST=1 runs the build (`npm run build` first) with the node arguments of the
 * Dockerfile's CMD, as the image does, instead of the sources through tsx, whose compiled modules and source maps add to the heap.
 */
export function startServer(env: Record<string, string>, extraNodeArgs: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const nodeArgs = [...extraNodeArgs, ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const image = process.env.BENCH_SERVER_DIST === '1' ? imageRun() : null;
  const entry = image ? image.args : ['--import', 'tsx', 'src/main.ts'];
  const child = spawn(process.execPath, [...nodeArgs, ...entry], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      BOOTSTRAP_DEV_TENANT: 'false',
      RETENTION_CRON: 'off',
      REPORT_ROLLUP_CRON: 'off',
      ALERT_EVALUATION_CRON: 'off',
      ...image?.env,
      ...env,
    },
    stdio: ['ignore', 'pipe', process.env.BENCH_SERVER_LOGS ? 'inherit' : 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    // The embedded engine (WASM) may take a minute or more to start on a busy machine.
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), Number(process.env.BENCH_START_TIMEOUT_MS ?? 180_000));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /GraphiQL at (http:\/\/[^/\s]+)\/graphql/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]! });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${out}`));
    });
  });
}

/** Stops a server started by startServer and waits for it to exit. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function procStat(pid: number | undefined): string[] | undefined {
  if (!pid) return undefined;
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return undefined;
  }
}

/** The middle value of `xs` (of an even count, the upper of the two middle ones). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** User + system CPU seconds a process has used so far (Linux). */
export function cpuSeconds(pid: number | undefined): number {
  const fields = procStat(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) / 100 : NaN; // utime, stime in clock ticks (100 Hz)
}

/** Resident memory of a process in bytes (Linux). */
export function rssBytes(pid: number | undefined): number {
  const fields = procStat(pid);
  return fields ? Number(fields[21]) * 4096 : NaN; // rss in pages
}
