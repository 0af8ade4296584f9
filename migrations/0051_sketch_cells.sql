-- Sketch cells that coincide with OpenTelemetry exponential-histogram buckets at scale 6
-- (DESIGN.md §3): γ = 2^(1/64) ≈ 1.0109, positive cell i = (γ^i, γ^(i+1)], negatives mirrored,
-- zero its own cell. A histogram of scale ≥ 6 maps into these cells without loss (bucket j at
-- scale s is cell j >> (s − 6)), and every value is within α = (γ−1)/(γ+1) ≈ 0.54 % of its
-- cell's representative 2·γ^(i+1)/(γ+1).
--
-- The key folds sign and zero into one integer whose order is the values' order:
--   0 for 0 and for |v| ≤ 2^-664 ≈ 1.31e-200 (the zero cell: absolute error ≤ 1.31e-200);
--   i + 42497 for positive values, −(i + 42497) for negative ones (1 … 108033).
-- It is total over float8: magnitudes above 2^1024 (±Infinity, never accepted at ingest) fall
-- in the last cell instead of failing a refresh for every tenant.
-- Examples: sketch_key(1) = 42496 (1 is the top of cell −1), sketch_key(2) = 42560,
-- sketch_key(-2) = -42560, sketch_key(1e-300) = 0.
create or replace function sketch_key(v double precision) returns integer
  language sql immutable strict parallel safe
  as $$
    select case when v = 0 then 0
      else (sign(v) * (greatest(least(ceil(ln(abs(v)) / ln(2::float8) * 64) - 1, 65536), -42497) + 42497))::integer
    end
  $$;

-- The representative of a key's cell: 2·γ^(i+1)/(γ+1) = 2^(i/64 + c) with
-- c = log2(2γ/(γ+1)), written so the largest cell does not overflow. The same as keyValue() in
-- src/query/sketch.ts. Examples: sketch_value(42496) = 0.99458…, sketch_value(0) = 0.
create or replace function sketch_value(k integer) returns double precision
  language sql immutable strict parallel safe
  as $$
    select case when k = 0 then 0::float8
      else sign(k) * power(2::float8, (abs(k) - 42497) / 64.0::float8 + (1 + 1 / 64.0::float8 - ln(1 + power(2::float8, 1 / 64.0::float8)) / ln(2::float8)))
    end
  $$;

-- Report rollups (0021) hold sketch cells of the old layout (γ = 1.02, key ±(i + 40000)): each
-- old cell's representative moves to the new cell holding it. Old cells are wider than new ones,
-- so no two old cells of a row meet in one new cell; the moved counts are within the old α
-- (0.99 %) plus the new one of the values they stood for. Owners are subject to these tables'
-- forced row security, so it is lifted for the move.
alter table report_rollup_sketch no force row level security;
create temporary table rollup_cells on commit drop as
  select tenant_id, series_id, period, start,
         case when k = 0 then 0 else sketch_key(sign(k) * 2 * power(1.02::float8, abs(k) - 40000) / 2.02) end as k, n
  from report_rollup_sketch;
delete from report_rollup_sketch;
insert into report_rollup_sketch (tenant_id, series_id, period, start, k, n)
  select tenant_id, series_id, period, start, k, sum(n)::bigint from rollup_cells group by 1, 2, 3, 4, 5;
alter table report_rollup_sketch force row level security;

-- Concatenates arrays: the merge step of the compact sketches (0052). array_cat is built in,
-- so a merge costs no interpreted call per row.
create aggregate sketch_cat(anycompatiblearray) (sfunc = array_cat, stype = anycompatiblearray);

-- A compact sketch is two arrays: ks, the cells' keys, and ws, their counts (null: every
-- count is 1). sketch_keys gives the sorted distinct keys of a merged sketch, sketch_counts the
-- counts aligned with them (null when all are 1, the common case of sparse series).
-- Example: sketch_keys('{5,3,5}') = {3,5}; sketch_counts('{5,3,5}', null) = {1,2}.
create function sketch_keys(ks integer[]) returns integer[]
  language sql immutable parallel safe
  as $$ select array_agg(distinct k order by k) from unnest(ks) k $$;
create function sketch_counts(ks integer[], ws double precision[]) returns double precision[]
  language sql immutable parallel safe
  as $$
    select case when ws is null and cardinality(ks) = (select count(distinct k) from unnest(ks) k) then null
      else (select array_agg(w order by k) from (select k, sum(coalesce(w, 1)) as w from unnest(ks, ws) u (k, w) group by k) g)
    end
  $$;
grant execute on function sketch_keys(integer[]), sketch_counts(integer[], double precision[]) to metrograph_app;
