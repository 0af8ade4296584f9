-- Cardinality budgets per tenant (src/ingest/cardinality.ts): overrides of the service's
-- defaults (MAX_SERIES, MAX_SERIES_PER_METRIC, MAX_TAG_VALUES), set by the operator. Null
-- keeps the default. The application role reads its own tenant's row; only the owner writes.
create table tenant_limits (
  tenant_id uuid primary key references tenants (id) on delete cascade,
  max_series integer check (max_series > 0),
  max_series_per_metric integer check (max_series_per_metric > 0),
  max_tag_values integer check (max_tag_values > 0),
  updated_at timestamptz not null default now()
);
alter table tenant_limits enable row level security;
alter table tenant_limits force row level security;
create policy tenant_limits_own on tenant_limits for select using (tenant_id = current_tenant_id());
create policy tenant_limits_owner on tenant_limits to current_user using (true) with check (true);
grant select on tenant_limits to metrograph_app;
