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

-- Each level as 0076 made it (1 hour from sketch_1h, 1 day from sketch_1d), with qr.
do $$
declare
  l record;
  merged_ws constant text := 'sketch_counts(sketch_cat(a.ks), case when count(a.ws) > 0 then sketch_cat(coalesce(a.ws, array_fill(1::float8, array[cardinality(a.ks)]))) end)';
begin
  for l in select * from (values ('1h', '1 hour', '3 days', '1 hour', '10 minutes'), ('1d', '1 day', '35 days', '1 day', '1 hour')) v (level, width, start_offset, end_offset, schedule)
  loop
    execute format('drop view tenant_group_sketch_%s', l.level);
    execute format('drop materialized view group_sketch_%s', l.level);
    execute format($q$
      create materialized view group_sketch_%1$s with (timescaledb.continuous, timescaledb.materialized_only = false) as
      select g.tenant_id, g.metric_id, g.key, g.value, time_bucket(%2$L, a.bucket) as bucket,
        sketch_keys(sketch_cat(a.ks)) as ks,
        %3$s as ws,
        sketch_ranks(sketch_keys(sketch_cat(a.ks)), %3$s, array[0.5, 0.9, 0.95, 0.99]::float8[]) as qr
      from sketch_%1$s a join series_groups g on g.series_id = a.series_id
      group by g.tenant_id, g.metric_id, g.key, g.value, time_bucket(%2$L, a.bucket)
      with no data$q$, l.level, l.width, merged_ws);
    execute format('create index on group_sketch_%s (tenant_id, metric_id, key, bucket)', l.level);
    execute format($q$alter materialized view group_sketch_%s set (timescaledb.compress = true,
      timescaledb.compress_segmentby = 'tenant_id, metric_id, key', timescaledb.compress_orderby = 'value, bucket')$q$, l.level);
    execute format($q$create view tenant_group_sketch_%1$s with (security_barrier) as
      select metric_id, key, value, bucket, ks, ws, qr from group_sketch_%1$s where tenant_id = current_tenant_id()$q$, l.level);
    execute format('grant select on tenant_group_sketch_%s to metrograph_app', l.level);
    execute format('select add_continuous_aggregate_policy(%L, start_offset => %L::interval, end_offset => %L::interval, schedule_interval => %L::interval)',
      'group_sketch_' || l.level, l.start_offset, l.end_offset, l.schedule);
  end loop;
end
$$;

insert into aggregate_backfill (position, view_name)
  select 200 + position, view_name
  from unnest(array['group_sketch_1h', 'group_sketch_1d']) with ordinality as v (view_name, position)
  where exists (select from points)
  on conflict do nothing;
