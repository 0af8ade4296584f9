/**
 * Private PostgreSQL clusters for the harnesses that must stop, pause or promote a server
 * (bench/faults.ts, bench/replicas.ts, test/replicas.test.ts): Debian's PostgreSQL tools
 * (initdb, pg_ctl, pg_basebackup) on free ports, in temporary directories, never the shared
 * server on 5432.
 *
 * initdb refuses to run as root, and CI (.ci/run) runs as root: there every tool runs as the
 * `postgres` user through runuser, and the temporary directory is opened to it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The newest /usr/lib/postgresql/<version>/bin, or PG_BIN. */
export const PG_BIN =
  process.env.PG_BIN ??
  (() => {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))) : [];
    const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
    return newest ? join(root, newest, 'bin') : join(root, '15', 'bin');
  })();

const TOOLS = ['initdb', 'pg_ctl', 'pg_basebackup'];

/** Why private clusters cannot be made here (tools or the postgres user missing), or null when they can. */
export function clusterToolsMissing(): string | null {
  const missing = TOOLS.filter((tool) => !existsSync(join(PG_BIN, tool)));
  if (missing.length) return `PostgreSQL tools not found in ${PG_BIN} (${missing.join(', ')}); set PG_BIN or install postgresql`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root, and there is no postgres user to run initdb as';
    }
  }
  return null;
}

/** A port nobody listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs a PostgreSQL tool, as the postgres user when we are root. */
function tool(command: string, args: string[]): Buffer {
  const path = join(PG_BIN, command);
  return process.getuid?.() === 0 ? execFileSync('runuser', ['-u', 'postgres', '--', path, ...args], { stdio: 'pipe' }) : execFileSync(path, args, { stdio: 'pipe' });
}

export interface PgCluster {
  port: number;
  /** The temporary directory: data, log and the Unix socket. */
  dir: string;
  data: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> (trust authentication). */
  url(database?: string): string;
  start(): void;
  /** `fast` disconnects clients and shuts down cleanly; `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): void;
  /** A standby leaves recovery and becomes a primary of its own. */
  promote(): void;
  /** Stops it if it runs and removes its directory. */
  destroy(): void;
}

function cluster(dir: string, port: number, settings: string[]): PgCluster {
  const data = join(dir, 'data');
  let running = false;
  const options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', ...settings.map((s) => `-c ${s}`)].join(' ');
  return {
    port,
    dir,
    data,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start() {
      tool('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o', options, 'start']);
      running = true;
    },
    stop(mode = 'fast') {
      tool('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
      running = false;
    },
    promote() {
      tool('pg_ctl', ['-D', data, '-w', 'promote']);
    },
    destroy() {
      if (running) {
        try {
          tool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
        } catch {
          /* already stopped */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function privateDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o777); // the postgres user writes its data, log and socket here
  return dir;
}

/**
 * A new primary (initdb, trust authentication for user postgres, started). `settings` are
 * extra `name=value` server settings. Its defaults already allow streaming replicas
 * (wal_level=replica, max_wal_senders=10, replication connections from 127.0.0.1).
 */
export async function createPrimary(options: { port?: number; prefix?: string; settings?: string[] } = {}): Promise<PgCluster> {
  const dir = privateDir(options.prefix ?? 'mg-pg-');
  const primary = cluster(dir, options.port ?? (await freePort()), options.settings ?? []);
  try {
    tool('initdb', ['-D', primary.data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    primary.start();
  } catch (error) {
    primary.destroy();
    throw error;
  }
  return primary;
}

/**
 * A streaming replica of `primary`: pg_basebackup -R (which writes primary_conninfo and
 * standby.signal), started as a hot standby on a port of its own. `--checkpoint=fast`: with
 * the default spread checkpoint a freshly migrated primary took about 90 s, idle, to begin.
 */
export async function createReplica(primary: PgCluster, options: { prefix?: string; settings?: string[] } = {}): Promise<PgCluster> {
  const dir = privateDir(options.prefix ?? 'mg-replica-');
  const replica = cluster(dir, await freePort(), options.settings ?? []);
  try {
    tool('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', replica.data, '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync']);
    replica.start();
  } catch (error) {
    replica.destroy();
    throw error;
  }
  return replica;
}
