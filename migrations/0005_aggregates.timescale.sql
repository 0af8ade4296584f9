-- Continuous aggregates (TimescaleDB only): per series and bucket, at 1 minute from raw
-- points, 5 minutes and 1 hour from 1 minute, 1 day from 1 hour.
--   stats_*  count, sum, min, max and the last value (by time): cheap, most queries need only these.
--   sketch_* the log histogram of values (key, count), for percentiles that merge (0004_sketch.sql).
-- Real-time aggregation is on (materialized_only = false, off by default since 2.13), so
-- buckets past the watermark are computed from the level below: a point is in every query
-- as soon as it is committed. Points that land behind a watermark (late or backfilled) are
-- refreshed by the service right after their commit (src/query/refresh.ts).
--
-- Tenant isolation (DESIGN.md §2): TimescaleDB refuses these on a hypertable with RLS, and
-- the aggregates would not apply it anyway. The application role gets no privilege on them,
-- their materialisation hypertables or chunks; it reads them only through the tenant_*
-- security_barrier views below, filtered by the transaction's tenant.


create materialized view stats_1m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 minute', time) as bucket,
  count(*) as n, sum(value) as s, min(value) as mn, max(value) as mx, max(time) as lt, last(value, time) as lv
from points
group by tenant_id, series_id, time_bucket('1 minute', time)
with no data;
create materialized view sketch_1m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 minute', time) as bucket, sketch_key(value) as k, count(*) as n
from points
group by tenant_id, series_id, time_bucket('1 minute', time), sketch_key(value)
with no data;
create view tenant_stats_1m with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_1m where tenant_id = current_tenant_id();
create view tenant_sketch_1m with (security_barrier) as
  select series_id, bucket, k, n from sketch_1m where tenant_id = current_tenant_id();
grant select on tenant_stats_1m, tenant_sketch_1m to metrograph_app;
select add_continuous_aggregate_policy('stats_1m', start_offset => interval '3 hours', end_offset => interval '10 minutes', schedule_interval => interval '1 minute');
select add_continuous_aggregate_policy('sketch_1m', start_offset => interval '3 hours', end_offset => interval '10 minutes', schedule_interval => interval '1 minute');


create materialized view stats_5m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('5 minutes', bucket) as bucket,
  sum(n)::bigint as n, sum(s) as s, min(mn) as mn, max(mx) as mx, max(lt) as lt, last(lv, lt) as lv
from stats_1m
group by tenant_id, series_id, time_bucket('5 minutes', bucket)
with no data;
create materialized view sketch_5m with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('5 minutes', bucket) as bucket, k, sum(n)::bigint as n
from sketch_1m
group by tenant_id, series_id, time_bucket('5 minutes', bucket), k
with no data;
create view tenant_stats_5m with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_5m where tenant_id = current_tenant_id();
create view tenant_sketch_5m with (security_barrier) as
  select series_id, bucket, k, n from sketch_5m where tenant_id = current_tenant_id();
grant select on tenant_stats_5m, tenant_sketch_5m to metrograph_app;
select add_continuous_aggregate_policy('stats_5m', start_offset => interval '6 hours', end_offset => interval '10 minutes', schedule_interval => interval '5 minutes');
select add_continuous_aggregate_policy('sketch_5m', start_offset => interval '6 hours', end_offset => interval '10 minutes', schedule_interval => interval '5 minutes');


create materialized view stats_1h with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 hour', bucket) as bucket,
  sum(n)::bigint as n, sum(s) as s, min(mn) as mn, max(mx) as mx, max(lt) as lt, last(lv, lt) as lv
from stats_1m
group by tenant_id, series_id, time_bucket('1 hour', bucket)
with no data;
create materialized view sketch_1h with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 hour', bucket) as bucket, k, sum(n)::bigint as n
from sketch_1m
group by tenant_id, series_id, time_bucket('1 hour', bucket), k
with no data;
create view tenant_stats_1h with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_1h where tenant_id = current_tenant_id();
create view tenant_sketch_1h with (security_barrier) as
  select series_id, bucket, k, n from sketch_1h where tenant_id = current_tenant_id();
grant select on tenant_stats_1h, tenant_sketch_1h to metrograph_app;
select add_continuous_aggregate_policy('stats_1h', start_offset => interval '3 days', end_offset => interval '1 hour', schedule_interval => interval '10 minutes');
select add_continuous_aggregate_policy('sketch_1h', start_offset => interval '3 days', end_offset => interval '1 hour', schedule_interval => interval '10 minutes');


create materialized view stats_1d with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 day', bucket) as bucket,
  sum(n)::bigint as n, sum(s) as s, min(mn) as mn, max(mx) as mx, max(lt) as lt, last(lv, lt) as lv
from stats_1h
group by tenant_id, series_id, time_bucket('1 day', bucket)
with no data;
create materialized view sketch_1d with (timescaledb.continuous, timescaledb.materialized_only = false) as
select tenant_id, series_id, time_bucket('1 day', bucket) as bucket, k, sum(n)::bigint as n
from sketch_1h
group by tenant_id, series_id, time_bucket('1 day', bucket), k
with no data;
create view tenant_stats_1d with (security_barrier) as
  select series_id, bucket, n, s, mn, mx, lt, lv from stats_1d where tenant_id = current_tenant_id();
create view tenant_sketch_1d with (security_barrier) as
  select series_id, bucket, k, n from sketch_1d where tenant_id = current_tenant_id();
grant select on tenant_stats_1d, tenant_sketch_1d to metrograph_app;
select add_continuous_aggregate_policy('stats_1d', start_offset => interval '35 days', end_offset => interval '1 day', schedule_interval => interval '1 hour');
select add_continuous_aggregate_policy('sketch_1d', start_offset => interval '35 days', end_offset => interval '1 day', schedule_interval => interval '1 hour');
