-- TimescaleDB: compression of raw chunks, and the purge and storage functions for it.
--
-- Compression (columnstore) groups each chunk's rows by tenant and series, ordered by time.
-- It cannot coexist with row-level security (DESIGN.md §2), and needs none here: the
-- application role reaches points only through tenant_points and has no privilege on chunks
-- or their compressed tables. Chunks are compressed by a policy on a TimescaleDB server, or by
-- the service's own job on the embedded engine (src/ops/retention.ts).
alter table points set (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'tenant_id, series_id',
  timescaledb.compress_orderby = 'time desc'
);

-- As in 0031, with the decompression limit lifted for this statement's transaction: a purge
-- that cuts through compressed batches decompresses them (whole batches older than the
-- cutoff are deleted without it).
create or replace function purge_tenant_points(p_series bigint[], p_before timestamptz)
  returns table (deleted bigint, oldest timestamptz, newest timestamptz)
  language plpgsql security definer
  set search_path = public, pg_temp
  set timescaledb.max_tuples_decompressed_per_dml_transaction = 0
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

-- Storage of the transaction's tenant. Tables are shared by tenants, so a tenant's bytes are
-- attributed: in an uncompressed chunk, its rows × the chunk's bytes per row; in a compressed
-- chunk, its own compressed batches' share of the chunk's bytes (measured on the batches
-- themselves: they are grouped by tenant), against what its rows took before compression
-- (its rows × the chunk's bytes per row before compression). Aggregates: per level, its
-- rows × the materialisation table's bytes per row.
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
      where a.view_schema = 'public' and a.view_name ~ '^(stats|sketch)_(1m|5m|1h|1d)$'
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
