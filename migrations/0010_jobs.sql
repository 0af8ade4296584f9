-- Every run of a scheduled or requested job: what ran, over which range, how it ended.
-- The unique index makes a tick run once across instances: each instance tries to insert
-- the (job, tick) row, and only the one that succeeds runs the job.
create table job_runs (
  id bigint generated always as identity primary key,
  job text not null,
  tick timestamptz not null,
  -- null for a job over every tenant; a tenant's id for work it asked for (a backfill)
  tenant_id uuid references tenants (id) on delete cascade,
  range_from timestamptz,
  range_to timestamptz,
  status text not null check (status in ('RUNNING', 'COMPLETED', 'FAILED')),
  rows bigint,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  duration_ms double precision,
  error text,
  instance text
);
create unique index job_runs_once on job_runs (job, tick, coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'));
create index job_runs_recent on job_runs (started_at desc);

alter table job_runs enable row level security;
alter table job_runs force row level security;
-- The application role reads its tenant's runs and the service-wide ones (which name no tenant data).
create policy job_runs_read on job_runs for select to metrograph_app
  using (tenant_id = current_tenant_id() or tenant_id is null);
-- The scheduler writes runs as the owning role (the role running this migration).
do $$ begin
  execute format('create policy job_runs_owner on job_runs to %I using (true) with check (true)', current_user);
end $$;
grant select on job_runs to metrograph_app;
