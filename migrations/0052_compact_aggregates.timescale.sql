-- Compact continuous aggregates (issue 12): one row per series and bucket at every level.
--
--   stats_*   n, s, mn, mx, lt, lv: count, sum, min, max, time and value of the newest point.
--   sketch_*  ks, ws: the sketch (0051_sketch_cells.sql) as two arrays, cell keys and their
--             counts (ws null: every count is 1). 1 minute: one key per point, unsorted (built
--             by array_agg, no interpreted call per point); 5 minutes: the 1 minute arrays
--             concatenated; 1 hour and 1 day: sorted distinct keys with summed counts.
-- The first layout (0005) kept one sketch row per cell per series and bucket: as many rows as
-- points at 1 minute and 12× the raw bytes in all.
--
-- Distribution points (0050) count as they say: n = Σ coalesce(weight, 1),
-- s = Σ value·weight + Σ sum_adjust, mn/mx from min_value/max_value, a cell counted weight times.
--
-- Total whatever a tenant writes: a refresh recomputes every tenant's rows, so one failing
-- expression would stop every tenant's aggregates. float8 sums raise on overflow (two values
-- near 1.5e308 in one minute did), so values and sum adjustments count in sums clamped to
-- ±1e200 and weights to 2^53: a sum then needs ~1e92 rows to overflow. Counts are float8 (exact
-- to 2^53). min, max, last and the sketch keep the values as written.
--
-- Tenant isolation (DESIGN.md §2): as in 0005, the application role reads these only through
-- the tenant_* security_barrier views; it has no privilege on the aggregates, their
-- materialisation hypertables or chunks.
--
-- Existing data: the aggregates are created empty, and aggregate_backfill lists them; after
-- migrating, the service refreshes each listed one from the raw points (refresh cannot run in
-- a migration's transaction) and removes it from the list (src/query/backfill.ts).

drop materialized view if exists stats_1d cascade;
drop materialized view if exists sketch_1d cascade;
drop materialized view if exists stats_1h cascade;
drop materialized view if exists sketch_1h cascade;
drop materialized view if exists stats_5m cascade;
drop materialized view if exists sketch_5m cascade;
drop materialized view if exists stats_1m cascade;
drop materialized view if exists sketch_1m cascade;


create materialized view stats_1m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 minute', time) as bucket,
  sum(least(coalesce(weight, 1), 9007199254740992)::float8) as n,
  sum(least(greatest(value, -1e200), 1e200) * least(coalesce(weight, 1), 9007199254740992)::float8
      + least(greatest(coalesce(sum_adjust, 0), -1e200), 1e200)) as s,
  min(coalesce(min_value, value)) as mn, max(coalesce(max_value, value)) as mx, max(time) as lt, last(value, time) as lv
from points
group by tenant_id, series_id, time_bucket('1 minute', time)
with no data;
create materialized view sketch_1m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 minute', time) as bucket,
  array_agg(sketch_key(value)) as ks,
  case when count(weight) > 0 then array_agg(least(coalesce(weight, 1), 9007199254740992)::float8) end as ws
from points
group by tenant_id, series_id, time_bucket('1 minute', time)
with no data;
create view tenant_stats_1m with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_1m where tenant_id = current_tenant_id();
create view tenant_sketch_1m with (security_barrier) as
  select series_id, bucket, ks, ws from sketch_1m where tenant_id = current_tenant_id();
grant select on tenant_stats_1m, tenant_sketch_1m to metrograph_app;
select add_continuous_aggregate_policy('stats_1m', start_offset => interval '3 hours', end_offset => interval '10 minutes', schedule_interval => interval '1 minute');
select add_continuous_aggregate_policy('sketch_1m', start_offset => interval '3 hours', end_offset => interval '10 minutes', schedule_interval => interval '1 minute');


create materialized view stats_5m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('5 minutes', bucket) as bucket,
  sum(n) as n, sum(s) as s, min(mn) as mn, max(mx) as mx, max(lt) as lt, last(lv, lt) as lv
from stats_1m
group by tenant_id, series_id, time_bucket('5 minutes', bucket)
with no data;
create materialized view sketch_5m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('5 minutes', bucket) as bucket,
  sketch_cat(ks) as ks,
  case when count(ws) > 0 then sketch_cat(coalesce(ws, array_fill(1::float8, array[cardinality(ks)]))) end as ws
from sketch_1m
group by tenant_id, series_id, time_bucket('5 minutes', bucket)
with no data;
create view tenant_stats_5m with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_5m where tenant_id = current_tenant_id();
create view tenant_sketch_5m with (security_barrier) as
  select series_id, bucket, ks, ws from sketch_5m where tenant_id = current_tenant_id();
grant select on tenant_stats_5m, tenant_sketch_5m to metrograph_app;
select add_continuous_aggregate_policy('stats_5m', start_offset => interval '6 hours', end_offset => interval '10 minutes', schedule_interval => interval '5 minutes');
select add_continuous_aggregate_policy('sketch_5m', start_offset => interval '6 hours', end_offset => interval '10 minutes', schedule_interval => interval '5 minutes');


create materialized view stats_1h with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 hour', bucket) as bucket,
  sum(n) as n, sum(s) as s, min(mn) as mn, max(mx) as mx, max(lt) as lt, last(lv, lt) as lv
from stats_1m
group by tenant_id, series_id, time_bucket('1 hour', bucket)
with no data;
create materialized view sketch_1h with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 hour', bucket) as bucket,
  sketch_keys(sketch_cat(ks)) as ks,
  sketch_counts(sketch_cat(ks), case when count(ws) > 0 then sketch_cat(coalesce(ws, array_fill(1::float8, array[cardinality(ks)]))) end) as ws
from sketch_1m
group by tenant_id, series_id, time_bucket('1 hour', bucket)
with no data;
create view tenant_stats_1h with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_1h where tenant_id = current_tenant_id();
create view tenant_sketch_1h with (security_barrier) as
  select series_id, bucket, ks, ws from sketch_1h where tenant_id = current_tenant_id();
grant select on tenant_stats_1h, tenant_sketch_1h to metrograph_app;
select add_continuous_aggregate_policy('stats_1h', start_offset => interval '3 days', end_offset => interval '1 hour', schedule_interval => interval '10 minutes');
select add_continuous_aggregate_policy('sketch_1h', start_offset => interval '3 days', end_offset => interval '1 hour', schedule_interval => interval '10 minutes');


create materialized view stats_1d with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 day', bucket) as bucket,
  sum(n) as n, sum(s) as s, min(mn) as mn, max(mx) as mx, max(lt) as lt, last(lv, lt) as lv
from stats_1h
group by tenant_id, series_id, time_bucket('1 day', bucket)
with no data;
create materialized view sketch_1d with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 day', bucket) as bucket,
  sketch_keys(sketch_cat(ks)) as ks,
  sketch_counts(sketch_cat(ks), case when count(ws) > 0 then sketch_cat(coalesce(ws, array_fill(1::float8, array[cardinality(ks)]))) end) as ws
from sketch_1h
group by tenant_id, series_id, time_bucket('1 day', bucket)
with no data;
create view tenant_stats_1d with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_1d where tenant_id = current_tenant_id();
create view tenant_sketch_1d with (security_barrier) as
  select series_id, bucket, ks, ws from sketch_1d where tenant_id = current_tenant_id();
grant select on tenant_stats_1d, tenant_sketch_1d to metrograph_app;
select add_continuous_aggregate_policy('stats_1d', start_offset => interval '35 days', end_offset => interval '1 day', schedule_interval => interval '1 hour');
select add_continuous_aggregate_policy('sketch_1d', start_offset => interval '35 days', end_offset => interval '1 day', schedule_interval => interval '1 hour');


-- Aggregates to fill from the points already stored, in refresh order (a level reads the one
-- below). Nothing to fill in a new database.
create table aggregate_backfill (position integer primary key, view_name text not null);
insert into aggregate_backfill (position, view_name)
  select position, view_name
  from unnest(array['stats_1m', 'sketch_1m', 'stats_5m', 'sketch_5m', 'stats_1h', 'sketch_1h', 'stats_1d', 'sketch_1d']) with ordinality as v (view_name, position)
  where exists (select from points);
