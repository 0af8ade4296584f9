-- The last cumulative value of each series that arrives cumulative (OTLP cumulative Sums and
-- Histograms, Prometheus counters), so src/ingest/cumulative.ts can store increments: the
-- next value minus this one, or the whole value after a reset. Kept here rather than in a
-- process so that it survives restarts and is shared by every instance; written in the same
-- transaction as the increments it produced, so a rolled-back write leaves it unchanged.
--
-- series_key is a hash of the metric name and tags (not a series id: the state is kept for a
-- series the cardinality budget refused too, so its first stored increment is still right).
-- state holds what the next point is compared with: {"v": value, "s": start ms} for a
-- counter; the bucket counts, count and sum for a histogram.
create table cumulative_state (
  tenant_id uuid not null references tenants (id) on delete cascade,
  series_key text not null,
  time timestamptz not null,
  state jsonb not null,
  primary key (tenant_id, series_key)
);
alter table cumulative_state enable row level security;
alter table cumulative_state force row level security;
create policy cumulative_state_own on cumulative_state using (tenant_id = current_tenant_id()) with check (tenant_id = current_tenant_id());
grant select, insert, update on cumulative_state to metrograph_app;
