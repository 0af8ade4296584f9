-- Report rollups: per series and UTC calendar period (DAY, WEEK from Monday, MONTH), the
-- same statistics and log-histogram sketch as the continuous aggregates, written by a
-- scheduled job (src/definitions/roll-up-reports.ts) and read by metricReport.
--
-- Why (bench/report.ts, 20 series × 1 year at 5-minute points on the embedded engine): the
-- p95 of a monthly report read from the 1d aggregates merges ~970k sketch rows (~1.0 s);
-- from monthly rollups ~61k (~40 ms); weekly ~1.1 s → ~0.27 s. Counts and sums are cheap
-- from the 1d aggregates either way (~20 ms). Daily rollups would only copy the 1d
-- aggregate (~0.8 s against ~1.3 s), so with TimescaleDB days are read from it; without
-- TimescaleDB nothing is pre-aggregated, so days are rolled up too.
--
-- Ordinary tables, so row-level security protects them like every other tenant table. The
-- rollup job runs in each tenant's own transaction as the application role.

create table report_rollup_periods (
  tenant_id uuid not null references tenants (id) on delete cascade,
  period text not null check (period in ('DAY', 'WEEK', 'MONTH')),
  start timestamptz not null,
  "end" timestamptz not null,
  rolled_at timestamptz not null default now(),
  primary key (tenant_id, period, start)
);

create table report_rollup_stats (
  tenant_id uuid not null,
  series_id bigint not null,
  period text not null,
  start timestamptz not null,
  n bigint not null,
  s double precision not null,
  mn double precision not null,
  mx double precision not null,
  lt timestamptz not null,
  lv double precision not null,
  primary key (tenant_id, period, start, series_id),
  foreign key (tenant_id, period, start) references report_rollup_periods (tenant_id, period, start) on delete cascade,
  foreign key (tenant_id, series_id) references series (tenant_id, id) on delete cascade
);

create table report_rollup_sketch (
  tenant_id uuid not null,
  series_id bigint not null,
  period text not null,
  start timestamptz not null,
  k integer not null,
  n bigint not null,
  primary key (tenant_id, period, start, series_id, k),
  foreign key (tenant_id, period, start) references report_rollup_periods (tenant_id, period, start) on delete cascade,
  foreign key (tenant_id, series_id) references series (tenant_id, id) on delete cascade
);

do $$
declare t text;
begin
  foreach t in array array['report_rollup_periods', 'report_rollup_stats', 'report_rollup_sketch'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('create policy %I on %I using (tenant_id = current_tenant_id()) with check (tenant_id = current_tenant_id())', t || '_own', t);
  end loop;
end $$;

grant select, insert, delete on report_rollup_periods, report_rollup_stats, report_rollup_sketch to metrograph_app;

-- The rollup job runs over every tenant: the owning role (which runs the scheduler, as for
-- job_runs) may list the tenants, and nothing more.
do $$ begin
  execute format('create policy tenants_jobs on tenants for select to %I using (true)', current_user);
end $$;
