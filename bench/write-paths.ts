/**
 * `npm run bench:write-paths`: what the database spends per point on each way the application
 * role could store points, against a plain COPY measured in the same run (#13).
 *
 * The question it answers: could the API's writes get to COPY's cost by writing with COPY, and
 * what would that cost the guarantees of DESIGN.md §2? PostgreSQL refuses COPY through a view
 * and COPY FROM into a table with row security, so a COPY path needs its checks on the table:
 *
 *   copy, no check          the baseline: what the owner's bulk load costs (bench:ingest's COPY arm)
 *   copy, tenant CHECK      `check (tenant_id = current_tenant_id())` on the table: the tenant is
 *                           checked, the series is not (a point may name a series of no one)
 *   copy, CHECK + trigger   the same with a row trigger that checks the series (PL/pgSQL);
 *                           PostgreSQL then stores row by row (no multi-row insert under a BEFORE ROW trigger)
 *   copy, foreign key       the series checked by the key points had until migrations/0092
 *   insert, write view      what the service does: INSERT … SELECT from unnest through a
 *                           security-barrier view whose check option probes series (0092)
 *   insert, no check        the same INSERT straight into the table
 *
 * Tables shaped like `points` (migrations/0002: five columns, the (series_id, time desc) index)
 * and `series` (300 series of the tenant among 3 300), on PostgreSQL, where bench:ingest
 * measures the goal. One connection, 500-point transactions as the API writes them, the arms
 * in rotating order; the figure is the backend's CPU (from /proc) per point, the median over
 * rounds. Before timing, each checked arm must refuse a point on a series that does not exist
 * and the tenant CHECK a point of another tenant, so the arms are compared at what they check.
 *
 * Measured 2026-12-03 (2 cores), two runs: COPY 5.3 and 6.5 µs; tenant CHECK 6.4, 7.5; CHECK +
 * trigger 11.7, 13.0; foreign key 11.4, 11.9; the write view 7.4, 10.2; INSERT without a check
 * 5.8, 6.8. A COPY path that keeps the series checked costs the database more than the write
 * view does; one that drops the check saves 1-2.7 µs of the 19-35 µs an API point costs in
 * all (bench:ingest), which leaves every arm short of 0.6× COPY.
 *
 * Environment (all optional):
 *   BENCH_DATABASE_URL   server to create the throwaway database on (default postgres://postgres@127.0.0.1:5432/test)
 *   BENCH_ROUNDS         rounds per arm (default 5)
 *   BENCH_TRANSACTIONS   transactions per arm and round (default 200)
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { cpuSeconds, freshDatabase, median } from './servers.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TRANSACTIONS = Number(process.env.BENCH_TRANSACTIONS ?? 200);
const POINTS = 500;
const SERIES = 300;

const SCHEMA = `
create function current_tenant_id() returns uuid language sql stable parallel safe
  as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;
create table series (id bigserial primary key, tenant_id uuid not null, unique (tenant_id, id));
create table points_plain (tenant_id uuid not null, series_id bigint not null, time timestamptz not null, value double precision not null, id uuid not null);
create table points_checked (like points_plain, check (tenant_id = current_tenant_id()));
create table points_triggered (like points_plain, check (tenant_id = current_tenant_id()));
create table points_keyed (like points_plain, foreign key (tenant_id, series_id) references series (tenant_id, id));
create table points_viewed (like points_plain);
create function points_series_check() returns trigger language plpgsql as $$
begin
  if not exists (select 1 from series s where s.id = new.series_id and s.tenant_id = new.tenant_id) then
    raise exception 'no such series' using errcode = '44000';
  end if;
  return new;
end $$;
create trigger points_series_check before insert on points_triggered for each row execute function points_series_check();
create view point_writes with (security_barrier) as
  select * from points_viewed p
  where tenant_id = current_tenant_id() and exists (select 1 from series s where s.id = p.series_id and s.tenant_id = p.tenant_id)
  with cascaded check option;
`;
const TABLES = ['points_plain', 'points_checked', 'points_triggered', 'points_keyed', 'points_viewed'];

interface Point {
  series: number;
  time: number;
  value: number;
  id: string;
}

async function main() {
  const database = await freshDatabase(ADMIN_URL);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const tenant = randomUUID();
    await client.query(SCHEMA);
    for (const table of TABLES) await client.query(`create index on ${table} (series_id, time desc)`);
    await client.query(`insert into series (tenant_id) select $1 from generate_series(1, ${SERIES})`, [tenant]);
    await client.query(`insert into series (tenant_id) select gen_random_uuid() from generate_series(1, ${SERIES * 10})`);
    await client.query(`select set_config('app.tenant_id', $1, false)`, [tenant]);
    const backend = Number((await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);

    let clock = Date.parse('2026-01-01T00:00:00Z');
    const batch = (): Point[] =>
      Array.from({ length: POINTS }, (_, i) => ({ series: 1 + (i % SERIES), time: (clock += 10), value: Math.round(Math.random() * 1e6) / 100, id: randomUUID() }));
    const copy = (table: string) => (points: Point[]) =>
      pipeline(
        Readable.from([points.map((p) => `${tenant}\t${p.series}\t${new Date(p.time).toISOString()}\t${p.value}\t${p.id}\n`).join('')]),
        client.query(copyFrom(`copy ${table} (tenant_id, series_id, time, value, id) from stdin`)),
      );
    // The service's statement (src/ingest/record-points.ts, writeScript): times as milliseconds after the first.
    const insert = (target: string) => (points: Point[]) =>
      client.query(
        `insert into ${target} (tenant_id, series_id, time, value, id)
         select current_tenant_id(), s, to_timestamp((${points[0]!.time}::float8 + t) / 1000.0), v, id
         from unnest('{${points.map((p) => p.series)}}'::bigint[], '{${points.map((p) => p.time - points[0]!.time)}}'::float8[],
                     '{${points.map((p) => p.value)}}'::float8[], '{${points.map((p) => p.id)}}'::uuid[]) as input (s, t, v, id)`,
      );
    const arms: Array<[string, (points: Point[]) => Promise<unknown>]> = [
      ['copy, no check (baseline)', copy('points_plain')],
      ['copy, tenant CHECK', copy('points_checked')],
      ['copy, CHECK + series trigger', copy('points_triggered')],
      ['copy, foreign key', copy('points_keyed')],
      ['insert, write view (today)', insert('point_writes')],
      ['insert, no check', insert('points_plain')],
    ];

    // A wrong series must be refused by each checked path, or the comparison is not like for like.
    const stray = [{ series: SERIES * 100, time: clock, value: 1, id: randomUUID() }];
    for (const [name, write] of arms.slice(2, 5)) {
      const refused = await write(stray).then(
        () => false,
        () => true,
      );
      if (!refused) throw new Error(`${name}: a point on a series that does not exist was stored`);
    }

    const foreign = await client.query(`insert into points_checked values (gen_random_uuid(), 1, now(), 1, gen_random_uuid())`).then(
      () => false,
      () => true,
    );
    if (!foreign) throw new Error("copy, tenant CHECK: another tenant's point was stored");

    const perPoint: Record<string, number[]> = Object.fromEntries(arms.map(([name]) => [name, []]));
    console.log(`bench:write-paths  PostgreSQL, one connection, ${ROUNDS} rounds × ${TRANSACTIONS} transactions × ${POINTS} points per arm`);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so no arm always runs first or on the warmest caches.
      for (let k = 0; k < arms.length; k++) {
        const [name, write] = arms[(k + round) % arms.length]!;
        const batches = Array.from({ length: TRANSACTIONS }, batch);
        const before = cpuSeconds(backend);
        for (const points of batches) await write(points);
        perPoint[name]!.push(((cpuSeconds(backend) - before) / (TRANSACTIONS * POINTS)) * 1e6);
      }
    }

    const baseline = median(perPoint[arms[0]![0]]!);
    const rows = [['arm', 'database CPU µs/point', 'range', '× baseline']];
    for (const [name] of arms) {
      const xs = perPoint[name]!;
      rows.push([name, median(xs).toFixed(2), `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`, (median(xs) / baseline).toFixed(2)]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
    console.log('goal: none of its own; it shows what a COPY path would save the database, and at what check (#13, README "Scaling plan")');
  } finally {
    await client.end();
    await database.drop();
  }
}

await main();
