-- Retention per tenant, purges, and storage statistics (src/ops/retention.ts).
--
-- tenant_retention holds a tenant's own periods, in days; a null column means the service's
-- default (raw 30, 1 minute 30, 5 minutes 90, 1 hour 365, 1 day 1825). Minimums keep deletes
-- out of the windows continuous aggregate policies refresh (see retention.ts).
create table tenant_retention (
  tenant_id uuid primary key references tenants (id) on delete cascade,
  raw_days integer check (raw_days between 7 and 36500),
  minute_days integer check (minute_days between 7 and 36500),
  five_minute_days integer check (five_minute_days between 1 and 36500),
  hour_days integer check (hour_days between 36 and 36500),
  day_days integer check (day_days between 1 and 36500),
  updated_at timestamptz not null default now()
);
alter table tenant_retention enable row level security;
alter table tenant_retention force row level security;
create policy tenant_retention_own on tenant_retention
  using (tenant_id = current_tenant_id())
  with check (tenant_id = current_tenant_id());
do $$ begin
  execute format('create policy tenant_retention_owner on tenant_retention to %I using (true) with check (true)', current_user);
end $$;
grant select, insert, update on tenant_retention to metrograph_app;

-- The retention job runs as the owner for every tenant: it lists them (tenants forces row-level
-- security on its owner too), then works on each one with that tenant set.
do $$ begin
  execute format('create policy tenants_retention_job on tenants for select to %I using (true)', current_user);
end $$;

-- How far back each source of a continuous aggregate may have lost rows to retention:
-- `raw` (points) feeds the 1 minute level, `1m` feeds 5 minutes and 1 hour, `1h` feeds 1 day.
-- Refreshes never reach before it, or TimescaleDB would recompute the aggregates kept there
-- from rows that are gone. Service-wide and the owner's only: it names no tenant data.
create table retention_floors (
  source text primary key check (source in ('raw', '1m', '1h')),
  sealed_before timestamptz not null,
  updated_at timestamptz not null default now()
);

-- Client point ids are kept as long as a tenant's raw points: retention deletes them by age.
-- A BRIN index costs next to nothing on insert, and rows arrive in created_at order.
create index point_ids_created on point_ids using brin (created_at);

-- Purge: the application role may not delete points (DESIGN.md §2: it reaches them only
-- through tenant_points, which it may read and insert into). This function deletes the
-- transaction's tenant's points of the given series older than `before`, and their client
-- ids, and nothing of any other tenant: every statement is filtered by current_tenant_id().
-- Returns how many points it deleted and the time range they covered.
create function purge_tenant_points(p_series bigint[], p_before timestamptz)
  returns table (deleted bigint, oldest timestamptz, newest timestamptz)
  language plpgsql security definer set search_path = public, pg_temp
  as $$
  declare
    tenant uuid := current_tenant_id();
  begin
    if tenant is null then
      raise exception 'purge_tenant_points needs app.tenant_id' using errcode = 'insufficient_privilege';
    end if;
    select min(p.time), max(p.time) into oldest, newest
      from points p where p.tenant_id = tenant and p.series_id = any(p_series) and p.time < p_before;
    delete from point_ids i
      where i.tenant_id = tenant
        and i.id in (select p.id from points p where p.tenant_id = tenant and p.series_id = any(p_series) and p.time < p_before);
    delete from points p where p.tenant_id = tenant and p.series_id = any(p_series) and p.time < p_before;
    get diagnostics deleted = row_count;
    return next;
  end
  $$;
revoke all on function purge_tenant_points(bigint[], timestamptz) from public;
grant execute on function purge_tenant_points(bigint[], timestamptz) to metrograph_app;

-- Storage of the transaction's tenant, per relation: its rows and the bytes attributed to them
-- (a table's bytes per row × its rows). Plain PostgreSQL: raw points only, never compressed.
-- The TimescaleDB migration replaces this with chunk-level and compressed figures.
create function tenant_storage_stats()
  returns table (relation text, rows bigint, bytes bigint, compressed_rows bigint, compressed_bytes bigint, uncompressed_bytes bigint)
  language plpgsql stable security definer set search_path = public, pg_temp
  as $$
  declare
    tenant uuid := current_tenant_id();
    total_rows double precision;
  begin
    if tenant is null then
      raise exception 'tenant_storage_stats needs app.tenant_id' using errcode = 'insufficient_privilege';
    end if;
    select c.reltuples into total_rows from pg_class c where c.oid = 'points'::regclass;
    if total_rows <= 0 then
      select count(*) into total_rows from points; -- never analyzed yet: count
    end if;
    relation := 'raw';
    select count(*) into rows from points p where p.tenant_id = tenant;
    bytes := case when total_rows > 0 then round(rows * pg_total_relation_size('points') / total_rows) else 0 end;
    compressed_rows := 0;
    compressed_bytes := 0;
    uncompressed_bytes := bytes;
    return next;
  end
  $$;
revoke all on function tenant_storage_stats() from public;
grant execute on function tenant_storage_stats() to metrograph_app;
