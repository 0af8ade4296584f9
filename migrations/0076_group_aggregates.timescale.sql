-- Aggregates per tag group (issue 12): the hourly and daily levels merged across the series of
-- a metric that share one tag value, so a dashboard's "by region" or "region = eu" question
-- over weeks reads one row per group and bucket instead of one per series and bucket.
--
-- series_groups: one row per series and tag key (its value), plus one row with key '' and
-- value '' standing for every series of the metric (the question with no tag at all). Tag
-- keys are never empty (src/ingest/metric-input.ts), so '' names nothing else. A series'
-- tags never change, so its rows are written once, by a trigger when the series is created.
--
--   group_stats_1h   tenant_id, metric_id, key, value, bucket, n, s, mn, mx, lt, lv
--   group_sketch_1h  tenant_id, metric_id, key, value, bucket, ks, ws (sorted distinct keys)
--   group_*_1d       the same per day, from stats_1d and sketch_1d (TimescaleDB 2.23 does
--                    not take a continuous aggregate with a join as the source of another)
--
-- They merge what stats_1h and sketch_1h hold exactly as a query would (sums, min, max, the
-- newest value — of points at the same time, the largest, as src/query/read-buckets.ts breaks
-- the tie — sketch cells added), so an answer read from them is the answer read from the
-- series levels. The planner uses them only where every series of a group is in the answer
-- (src/query/group-levels.ts).
--
-- Tenant isolation (DESIGN.md §2): the application role reads these only through the
-- tenant_group_* security_barrier views and has no privilege on series_groups, the aggregates
-- or their materialisation tables.

create table series_groups (
  series_id bigint not null references series (id) on delete cascade,
  key text not null,
  tenant_id uuid not null,
  metric_id bigint not null,
  value text not null,
  primary key (series_id, key)
);
revoke all on series_groups from public;

create function series_groups_add() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
  begin
    insert into series_groups (series_id, key, tenant_id, metric_id, value)
    select n.id, t.key, n.tenant_id, n.metric_id, t.value
    from new_series n cross join lateral (select key, value from jsonb_each_text(n.tags) union all select '', '') t
    on conflict do nothing;
    return null;
  end
  $$;
revoke all on function series_groups_add() from public;
create trigger series_groups_add after insert on series referencing new table as new_series
  for each statement execute function series_groups_add();

insert into series_groups (series_id, key, tenant_id, metric_id, value)
select s.id, t.key, s.tenant_id, s.metric_id, t.value
from series s cross join lateral (select key, value from jsonb_each_text(s.tags) union all select '', '') t;


create materialized view group_stats_1h with (timescaledb.continuous, timescaledb.materialized_only = false) as
select g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 hour', a.bucket) as bucket,
  sum(a.n) as n, sum(a.s) as s, min(a.mn) as mn, max(a.mx) as mx, max(a.lt) as lt, last(a.lv, row(a.lt, a.lv)) as lv
from stats_1h a join series_groups g on g.series_id = a.series_id
group by g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 hour', a.bucket)
with no data;
create materialized view group_sketch_1h with (timescaledb.continuous, timescaledb.materialized_only = false) as
select g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 hour', a.bucket) as bucket,
  sketch_keys(sketch_cat(a.ks)) as ks,
  sketch_counts(sketch_cat(a.ks), case when count(a.ws) > 0 then sketch_cat(coalesce(a.ws, array_fill(1::float8, array[cardinality(a.ks)]))) end) as ws
from sketch_1h a join series_groups g on g.series_id = a.series_id
group by g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 hour', a.bucket)
with no data;
create materialized view group_stats_1d with (timescaledb.continuous, timescaledb.materialized_only = false) as
select g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 day', a.bucket) as bucket,
  sum(a.n) as n, sum(a.s) as s, min(a.mn) as mn, max(a.mx) as mx, max(a.lt) as lt, last(a.lv, row(a.lt, a.lv)) as lv
from stats_1d a join series_groups g on g.series_id = a.series_id
group by g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 day', a.bucket)
with no data;
create materialized view group_sketch_1d with (timescaledb.continuous, timescaledb.materialized_only = false) as
select g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 day', a.bucket) as bucket,
  sketch_keys(sketch_cat(a.ks)) as ks,
  sketch_counts(sketch_cat(a.ks), case when count(a.ws) > 0 then sketch_cat(coalesce(a.ws, array_fill(1::float8, array[cardinality(a.ks)]))) end) as ws
from sketch_1d a join series_groups g on g.series_id = a.series_id
group by g.tenant_id, g.metric_id, g.key, g.value, time_bucket('1 day', a.bucket)
with no data;

create index on group_stats_1h (tenant_id, metric_id, key, bucket);
create index on group_sketch_1h (tenant_id, metric_id, key, bucket);
create index on group_stats_1d (tenant_id, metric_id, key, bucket);
create index on group_sketch_1d (tenant_id, metric_id, key, bucket);

create view tenant_group_stats_1h with (security_barrier) as
  select metric_id, key, value, bucket, n, s, mn, mx, lt, lv from group_stats_1h where tenant_id = current_tenant_id();
create view tenant_group_sketch_1h with (security_barrier) as
  select metric_id, key, value, bucket, ks, ws from group_sketch_1h where tenant_id = current_tenant_id();
create view tenant_group_stats_1d with (security_barrier) as
  select metric_id, key, value, bucket, n, s, mn, mx, lt, lv from group_stats_1d where tenant_id = current_tenant_id();
create view tenant_group_sketch_1d with (security_barrier) as
  select metric_id, key, value, bucket, ks, ws from group_sketch_1d where tenant_id = current_tenant_id();
grant select on tenant_group_stats_1h, tenant_group_sketch_1h, tenant_group_stats_1d, tenant_group_sketch_1d to metrograph_app;

-- As the series levels of the same width (0052), after them.
select add_continuous_aggregate_policy('group_stats_1h', start_offset => interval '3 days', end_offset => interval '1 hour', schedule_interval => interval '10 minutes');
select add_continuous_aggregate_policy('group_sketch_1h', start_offset => interval '3 days', end_offset => interval '1 hour', schedule_interval => interval '10 minutes');
select add_continuous_aggregate_policy('group_stats_1d', start_offset => interval '35 days', end_offset => interval '1 day', schedule_interval => interval '1 hour');
select add_continuous_aggregate_policy('group_sketch_1d', start_offset => interval '35 days', end_offset => interval '1 day', schedule_interval => interval '1 hour');

-- Existing data: filled at the next start (src/query/backfill.ts), after whatever 0052 listed.
insert into aggregate_backfill (position, view_name)
  select 100 + position, view_name
  from unnest(array['group_stats_1h', 'group_sketch_1h', 'group_stats_1d', 'group_sketch_1d']) with ordinality as v (view_name, position)
  where exists (select from points);

-- A tenant's storage counts its tag-group rows with their level (as 0032 otherwise).
create or replace function tenant_storage_stats()
  returns table (relation text, rows bigint, bytes bigint, compressed_rows bigint, compressed_bytes bigint, uncompressed_bytes bigint)
  language plpgsql stable security definer set search_path = public, pg_temp
  as $$
  declare
    tenant uuid := current_tenant_id();
    c record;
    mine double precision;
    total double precision;
    mine_bytes double precision;
    packed_mine double precision;
    packed_total double precision;
    total_bytes double precision;
    plain_rows bigint := 0;
    plain_bytes double precision := 0;
    packed_rows bigint := 0;
    packed_bytes double precision := 0;
    unpacked_bytes double precision := 0;
  begin
    if tenant is null then
      raise exception 'tenant_storage_stats needs app.tenant_id' using errcode = 'insufficient_privilege';
    end if;
    for c in
      select format('%I.%I', ch.schema_name, ch.table_name) as chunk,
             case when cc.id is not null then format('%I.%I', cc.schema_name, cc.table_name) end as compressed,
             s.before_compression_total_bytes as before, s.after_compression_total_bytes as after
      from _timescaledb_catalog.chunk ch
      join _timescaledb_catalog.hypertable h on h.id = ch.hypertable_id
      left join _timescaledb_catalog.chunk cc on cc.id = ch.compressed_chunk_id
      left join chunk_compression_stats('points') s on s.chunk_schema = ch.schema_name and s.chunk_name = ch.table_name
      where h.schema_name = 'public' and h.table_name = 'points' and not ch.dropped
    loop
      packed_mine := 0;
      packed_total := 0;
      if c.compressed is not null then
        execute format('select coalesce(sum(_ts_meta_count) filter (where tenant_id = $1), 0), coalesce(sum(_ts_meta_count), 0),
                               coalesce(sum(pg_column_size(x.*)) filter (where tenant_id = $1), 0), coalesce(sum(pg_column_size(x.*)), 0)
                        from %s x', c.compressed)
          into packed_mine, packed_total, mine_bytes, total_bytes using tenant;
        if packed_mine > 0 then
          packed_rows := packed_rows + packed_mine::bigint;
          packed_bytes := packed_bytes + c.after * mine_bytes / total_bytes;
          unpacked_bytes := unpacked_bytes + c.before * packed_mine / packed_total;
        end if;
      end if;
      -- Reading a chunk reads its compressed rows too (decompressed); what is left is stored
      -- uncompressed: all of an uncompressed chunk, late inserts into a compressed one.
      execute format('select count(*) filter (where tenant_id = $1), count(*) from %s', c.chunk) into mine, total using tenant;
      mine := mine - packed_mine;
      total := total - packed_total;
      if mine > 0 then
        plain_rows := plain_rows + mine::bigint;
        plain_bytes := plain_bytes + mine * pg_total_relation_size(c.chunk::regclass) / total;
      end if;
    end loop;
    relation := 'raw';
    rows := plain_rows + packed_rows;
    bytes := round(plain_bytes + packed_bytes);
    compressed_rows := packed_rows;
    compressed_bytes := round(packed_bytes);
    uncompressed_bytes := round(plain_bytes + unpacked_bytes);
    return next;

    for c in
      select a.view_name, format('%I.%I', a.materialization_hypertable_schema, a.materialization_hypertable_name) as mat
      from timescaledb_information.continuous_aggregates a
      where a.view_schema = 'public' and a.view_name ~ '^(group_)?(stats|sketch)_(1m|5m|1h|1d)$'
      order by a.view_name
    loop
      execute format('select count(*) from %s where tenant_id = $1', c.mat) into mine using tenant;
      total := approximate_row_count(c.mat::regclass);
      if total < mine then
        execute format('select count(*) from %s', c.mat) into total; -- not analyzed yet: count
      end if;
      relation := c.view_name;
      rows := mine::bigint;
      bytes := case when mine = 0 then 0 else round(mine / total * hypertable_size(c.mat::regclass)) end;
      compressed_rows := 0;
      compressed_bytes := 0;
      uncompressed_bytes := bytes;
      return next;
    end loop;
  end
  $$;
