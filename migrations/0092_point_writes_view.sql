-- Points name a series of their own tenant by the check option of a write-only view, instead
-- of by the foreign key from points to series (0002).
--
-- Why: a foreign key check locks the referenced row (FOR KEY SHARE) once per transaction and
-- series: a heap change and a WAL record each, and a multixact whenever another transaction
-- holds the same lock, which is the usual case with several writers sending the same series.
-- With 4 writers of 500-point transactions over 300 series (pgbench, PostgreSQL 15, 2 cores),
-- the foreign key cost a quarter to a half of the insert rate: 146-167 transactions/s with it
-- through tenant_points (147-183 straight into the table), 214-231 through a view with the
-- check below, 230-318 with no check at all.
--
-- The guarantee is the same for everything the application role can do. It writes points only
-- through tenant_point_writes, whose check option refuses a row whose tenant is not the
-- transaction's or whose series is not one of that tenant's (an index probe of series' primary
-- key, no lock). The lock guarded against the series being deleted meanwhile: no role deletes
-- series (the application role may not; series go only with their tenant, and no code deletes
-- tenants), and series ids are never reused, so nothing is left to guard.
--
-- tenant_points stays the way to read points; it no longer takes writes. An instance still
-- running code from before this migration is refused its writes (permission denied for view
-- tenant_points) until it is replaced: during a rolling upgrade, its GraphQL writers get an
-- internal error and its OTLP and remote-write clients a 500, which they retry. Keeping the
-- old grant for the upgrade would leave a way in without the series check.
alter table points drop constraint points_tenant_id_series_id_fkey;

create view tenant_point_writes with (security_barrier) as
  select tenant_id, series_id, time, value, id, weight, sum_adjust, min_value, max_value
  from points p
  where tenant_id = current_tenant_id()
    and exists (select 1 from series s where s.id = p.series_id and s.tenant_id = p.tenant_id)
  with cascaded check option;

revoke insert on tenant_points from metrograph_app;
grant insert on tenant_point_writes to metrograph_app;
