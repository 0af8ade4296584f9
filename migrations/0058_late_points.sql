-- Late points without waiting (src/query/invalidations.ts, src/jobs/late-points.ts).
--
-- A point stamped behind the continuous aggregates' watermarks is not in them until they are
-- recomputed (timescale/timescaledb#3877). Instead of refreshing inside the write request, the
-- write records here, in its own transaction, the range its late points touched: one row per
-- tenant, metric and UTC hour, however many points a burst brings (lo and hi widen, generation
-- counts the writes). Queries answer a recorded range from raw points; a job recomputes the
-- tenant's own buckets there, re-rolls the report periods it touches, and deletes the row only
-- if no write bumped its generation meanwhile. Both engines: without TimescaleDB there are no
-- aggregates, but report rollups take late points in the same way.
create table aggregate_invalidations (
  tenant_id uuid not null references tenants (id) on delete cascade,
  metric_id bigint not null,
  -- The UTC hour the row covers; lo and hi are the oldest and newest late point in it.
  bucket timestamptz not null,
  lo timestamptz not null,
  hi timestamptz not null,
  generation bigint not null default 1,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, metric_id, bucket),
  foreign key (tenant_id, metric_id) references metrics (tenant_id, id) on delete cascade,
  check (lo <= hi)
);
-- The job takes the oldest first.
create index aggregate_invalidations_bucket on aggregate_invalidations (bucket);

alter table aggregate_invalidations enable row level security;
alter table aggregate_invalidations force row level security;
create policy aggregate_invalidations_own on aggregate_invalidations
  using (tenant_id = current_tenant_id())
  with check (tenant_id = current_tenant_id());
-- The job (the owner) reads every tenant's rows and deletes those it has refreshed.
do $$ begin
  execute format('create policy aggregate_invalidations_owner on aggregate_invalidations to %I using (true) with check (true)', current_user);
end $$;
-- Writers insert and widen; only the job deletes.
grant select, insert, update on aggregate_invalidations to metrograph_app;
