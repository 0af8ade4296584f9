-- Quantiles a tag-group bucket answers alone, kept with it (issue 12): the common dashboard
-- question ("p50/p95/p99 by region per hour") is asked at a group level's own buckets and
-- groups, where each answer bucket is one group row. Reading that row's whole sketch (~750
-- cells at 720 points per series-hour) made the cost follow the points: most of it went into
-- sending and parsing the cells. Each group row now also keeps, for the quantiles the API
-- offers (src/query/sketch.ts QUANTILES: 0.5, 0.9, 0.95, 0.99, in that order), the cell keys
-- at the ranks around q·(total − 1), so such a bucket reads 9 numbers instead of its cells.
--
--   qr = {total, lo(0.5), hi(0.5), lo(0.9), hi(0.9), lo(0.95), hi(0.95), lo(0.99), hi(0.99)}
--
-- lo and hi are the keys of the first cells whose cumulative count (in key order) exceeds
-- ⌊q·(total − 1)⌋ and ⌈q·(total − 1)⌉: exactly what quantiles() in src/query/sketch.ts finds
-- when it merges the row's cells, summed in the same order, so the reader
-- (src/query/read-buckets.ts) turns them, with the bucket's exact min and max from the stats
-- level, into the same values as merging the sketch gives. The keys are read from the row's
-- own (sorted, distinct) ks and ws, as a reader would.
--
-- The two group sketch levels are recreated with the column (a continuous aggregate's query
-- cannot be altered); indexes, compression settings (0090), policies (0076) and the tenant
-- views (DESIGN.md §2) as before. Existing data: filled at the next start from the series
-- levels (src/query/backfill.ts); until then the real-time part answers.

create function sketch_ranks(ks integer[], ws double precision[], qs double precision[]) returns double precision[]
  language sql immutable parallel safe
  as $$
    with c as (
      select u.o, u.k, sum(coalesce(u.w, 1)) over (order by u.o rows between unbounded preceding and current row) as cum
      from unnest(ks, ws) with ordinality u (k, w, o)
    ), t as (
      select coalesce((select cum from c order by o desc limit 1), 0) as total
    )
    select array[t.total] || coalesce((
      select array_agg(r.k order by q.i, r.j)
      from unnest(qs) with ordinality q (q, i)
        cross join lateral (values (1, floor(q.q * (t.total - 1))), (2, ceil(q.q * (t.total - 1)))) as b (j, rank)
        cross join lateral (select (select min(c.k) from c where c.cum > b.rank)::float8 as k, b.j) r), '{}')
    from t
  $$;
grant execute on function sketch_ranks(integer[], double precision[], double precision[]) to metrograph_app;

drop view tenant_group_sketch_1h;
drop view tenant_group_sketch_1d;
drop materialized view group_sketch_1h;
drop materialized view group_sketch_1d;

create materialized view group_sketch_1h with (timescaledb.continuous, timescaledb.materialized_only = false) as
select g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 hour', a.bucket) as bucket,
  sketch_keys(sketch_cat(a.ks)) as ks,
  sketch_counts(sketch_cat(a.ks), case when count(a.ws) > 0 then sketch_cat(coalesce(a.ws, array_fill(1::float8, array[cardinality(a.ks)]))) end) as ws,
  sketch_ranks(sketch_keys(sketch_cat(a.ks)),
    sketch_counts(sketch_cat(a.ks), case when count(a.ws) > 0 then sketch_cat(coalesce(a.ws, array_fill(1::float8, array[cardinality(a.ks)]))) end),
    array[0.5, 0.9, 0.95, 0.99]::float8[]) as qr
from sketch_1h a join series_groups g on g.series_id = a.series_id
group by g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 hour', a.bucket)
with no data;
create materialized view group_sketch_1d with (timescaledb.continuous, timescaledb.materialized_only = false) as
select g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 day', a.bucket) as bucket,
  sketch_keys(sketch_cat(a.ks)) as ks,
  sketch_counts(sketch_cat(a.ks), case when count(a.ws) > 0 then sketch_cat(coalesce(a.ws, array_fill(1::float8, array[cardinality(a.ks)]))) end) as ws,
  sketch_ranks(sketch_keys(sketch_cat(a.ks)),
    sketch_counts(sketch_cat(a.ks), case when count(a.ws) > 0 then sketch_cat(coalesce(a.ws, array_fill(1::float8, array[cardinality(a.ks)]))) end),
    array[0.5, 0.9, 0.95, 0.99]::float8[]) as qr
from sketch_1d a join series_groups g on g.series_id = a.series_id
group by g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 day', a.bucket)
with no data;

create index on group_sketch_1h (tenant_id, metric_id, key, bucket);
create index on group_sketch_1d (tenant_id, metric_id, key, bucket);
alter materialized view group_sketch_1h set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, metric_id, key', timescaledb.compress_orderby = 'value, bucket');
alter materialized view group_sketch_1d set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, metric_id, key', timescaledb.compress_orderby = 'value, bucket');

create view tenant_group_sketch_1h with (security_barrier) as
  select metric_id, key, value, bucket, ks, ws, qr from group_sketch_1h where tenant_id = current_tenant_id();
create view tenant_group_sketch_1d with (security_barrier) as
  select metric_id, key, value, bucket, ks, ws, qr from group_sketch_1d where tenant_id = current_tenant_id();
grant select on tenant_group_sketch_1h, tenant_group_sketch_1d to metrograph_app;

select add_continuous_aggregate_policy('group_sketch_1h', start_offset => interval '3 days', end_offset => interval '1 hour', schedule_interval => interval '10 minutes');
select add_continuous_aggregate_policy('group_sketch_1d', start_offset => interval '35 days', end_offset => interval '1 day', schedule_interval => interval '1 hour');

insert into aggregate_backfill (position, view_name)
  select 200 + position, view_name
  from unnest(array['group_sketch_1h', 'group_sketch_1d']) with ordinality as v (view_name, position)
  where exists (select from points)
  on conflict do nothing;
