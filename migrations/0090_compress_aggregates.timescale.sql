-- Compression of the aggregate levels (issue 12): at a point a minute, the 1 minute level has a
-- stats row and a sketch row per point, and uncompressed all levels took 3.4× the raw points'
-- bytes. Compressed, a level's rows are stored per column in batches of up to 1 000 rows of one
-- segment, and the chunk's row indexes are replaced by one index on the segment columns.
--
-- Segments follow the read pattern (src/query/read-buckets.ts): a series level is read by
-- tenant, series and bucket range, a tag-group level by tenant, metric, key and bucket range
-- (value = one tag value, or all of them). So series levels segment by (tenant_id, series_id)
-- ordered by bucket; tag-group levels segment by (tenant_id, metric_id, key) ordered by
-- (value, bucket): one segment per question, and a key with many values (host) still fills
-- its batches. Each batch keeps the min and max of its order columns, so a bucket range or one
-- value skips the batches outside it without decompressing them.
--
-- Which chunks: those older than a level's compression age, by a compression policy on a
-- TimescaleDB server and by the service's compression job on the embedded engine
-- (src/ops/retention.ts, compressionAge). Everything else keeps working on compressed chunks:
-- refreshes and the late-points job write into them (TimescaleDB decompresses the batches a
-- delete touches; inserted rows stay uncompressed until the job compresses the chunk again),
-- retention and purges delete through the hypertable (src/ops/retention.ts), and the tenant_*
-- views read them as before.
--
-- Chunks: a materialisation hypertable gets chunks of 10× its source's (here 10 days), so the
-- 1 minute and 5 minute levels, which hold nearly all the rows, could be compressed only once
-- a whole 10 days was older than the compression age. They get one-day chunks, as the raw
-- points have, from their next chunk on (existing chunks keep their width).

alter materialized view stats_1m set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view sketch_1m set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view stats_5m set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view sketch_5m set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view stats_1h set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view sketch_1h set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view stats_1d set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view sketch_1d set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, series_id', timescaledb.compress_orderby = 'bucket');
alter materialized view group_stats_1h set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, metric_id, key', timescaledb.compress_orderby = 'value, bucket');
alter materialized view group_sketch_1h set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, metric_id, key', timescaledb.compress_orderby = 'value, bucket');
alter materialized view group_stats_1d set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, metric_id, key', timescaledb.compress_orderby = 'value, bucket');
alter materialized view group_sketch_1d set (timescaledb.compress = true, timescaledb.compress_segmentby = 'tenant_id, metric_id, key', timescaledb.compress_orderby = 'value, bucket');

select set_chunk_time_interval(format('%I.%I', a.materialization_hypertable_schema, a.materialization_hypertable_name)::regclass, interval '1 day')
from timescaledb_information.continuous_aggregates a
where a.view_schema = 'public' and a.view_name in ('stats_1m', 'sketch_1m', 'stats_5m', 'sketch_5m');

-- A tenant's share of one hypertable (the raw points or an aggregate's materialisation), as
-- 0032 measured the raw points: in an uncompressed chunk, its rows × the chunk's bytes per
-- row; in a compressed chunk, its own compressed batches' share of the chunk's bytes (batches
-- are per segment, and every segment starts with tenant_id), against what its rows took
-- before compression (its rows × the chunk's bytes per row then). Rows inserted into a
-- compressed chunk since it was compressed count as uncompressed. Only the functions below
-- call it (the application role may not: it names the tenant).
create function tenant_hypertable_storage(p_hypertable regclass, p_tenant uuid)
  returns table (rows bigint, bytes bigint, compressed_rows bigint, compressed_bytes bigint, uncompressed_bytes bigint)
  language plpgsql stable set search_path = public, pg_temp
  as $$
  declare
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
    for c in
      select format('%I.%I', ch.schema_name, ch.table_name) as chunk,
             case when cc.id is not null then format('%I.%I', cc.schema_name, cc.table_name) end as compressed,
             s.before_compression_total_bytes as before, s.after_compression_total_bytes as after
      from _timescaledb_catalog.chunk ch
      join _timescaledb_catalog.hypertable h on h.id = ch.hypertable_id
      left join _timescaledb_catalog.chunk cc on cc.id = ch.compressed_chunk_id
      left join chunk_compression_stats(p_hypertable) s on s.chunk_schema = ch.schema_name and s.chunk_name = ch.table_name
      where format('%I.%I', h.schema_name, h.table_name)::regclass = p_hypertable and not ch.dropped
    loop
      packed_mine := 0;
      packed_total := 0;
      if c.compressed is not null then
        execute format('select coalesce(sum(_ts_meta_count) filter (where tenant_id = $1), 0), coalesce(sum(_ts_meta_count), 0),
                               coalesce(sum(pg_column_size(x.*)) filter (where tenant_id = $1), 0), coalesce(sum(pg_column_size(x.*)), 0)
                        from %s x', c.compressed)
          into packed_mine, packed_total, mine_bytes, total_bytes using p_tenant;
        if packed_mine > 0 then
          packed_rows := packed_rows + packed_mine::bigint;
          packed_bytes := packed_bytes + c.after * mine_bytes / total_bytes;
          unpacked_bytes := unpacked_bytes + c.before * packed_mine / packed_total;
        end if;
      end if;
      -- Reading a chunk reads its compressed rows too (decompressed); what is left is stored
      -- uncompressed: all of an uncompressed chunk, rows written into a compressed one later.
      execute format('select count(*) filter (where tenant_id = $1), count(*) from %s', c.chunk) into mine, total using p_tenant;
      mine := mine - packed_mine;
      total := total - packed_total;
      if mine > 0 then
        plain_rows := plain_rows + mine::bigint;
        plain_bytes := plain_bytes + mine * pg_total_relation_size(c.chunk::regclass) / total;
      end if;
    end loop;
    rows := plain_rows + packed_rows;
    bytes := round(plain_bytes + packed_bytes);
    compressed_rows := packed_rows;
    compressed_bytes := round(packed_bytes);
    uncompressed_bytes := round(plain_bytes + unpacked_bytes);
    return next;
  end
  $$;
revoke all on function tenant_hypertable_storage(regclass, uuid) from public;

-- Storage of the transaction's tenant: raw points, then each aggregate (series and tag-group
-- levels), all measured alike chunk by chunk (0076 measured an aggregate as its rows × the
-- whole materialisation table's bytes per row, which a compressed chunk would make meaningless).
create or replace function tenant_storage_stats()
  returns table (relation text, rows bigint, bytes bigint, compressed_rows bigint, compressed_bytes bigint, uncompressed_bytes bigint)
  language plpgsql stable security definer set search_path = public, pg_temp
  as $$
  declare
    tenant uuid := current_tenant_id();
    c record;
    s record;
  begin
    if tenant is null then
      raise exception 'tenant_storage_stats needs app.tenant_id' using errcode = 'insufficient_privilege';
    end if;
    for c in
      select 'raw' as name, 'public.points'::regclass as ht
      union all
      (select a.view_name, format('%I.%I', a.materialization_hypertable_schema, a.materialization_hypertable_name)::regclass
       from timescaledb_information.continuous_aggregates a
       where a.view_schema = 'public' and a.view_name ~ '^(group_)?(stats|sketch)_(1m|5m|1h|1d)$'
       order by a.view_name)
    loop
      select * into s from tenant_hypertable_storage(c.ht, tenant);
      relation := c.name;
      rows := s.rows;
      bytes := s.bytes;
      compressed_rows := s.compressed_rows;
      compressed_bytes := s.compressed_bytes;
      uncompressed_bytes := s.uncompressed_bytes;
      return next;
    end loop;
  end
  $$;
