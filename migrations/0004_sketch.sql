-- Mergeable percentiles (DESIGN.md §3): a value's bucket in a log-scaled histogram with
-- gamma = 1.02, as in DDSketch. Bucket i holds (gamma^(i-1), gamma^i]; its representative
-- 2*gamma^i/(gamma+1) is within (gamma-1)/(gamma+1) = 0.99 % of every value in it.
-- Counts per bucket add up across buckets of time, series and tag groups, so percentiles
-- of merged data stay within that bound: never an average of percentiles.
--
-- The key folds sign and zero into one integer whose order is the values' order:
--   0 for 0; i + 40000 for positive values; -(i + 40000) for negative ones.
-- 40000 keeps every float8 (5e-324 .. 1.8e308, i = -37640 .. 35890) on its own side of 0.
-- Examples: sketch_key(1) = 40000, sketch_key(100) = 40233, sketch_key(-100) = -40233.
create function sketch_key(v double precision) returns integer
  language sql immutable strict parallel safe
  as $$
    select case
      when v = 0 then 0
      when v > 0 then ceil(ln(v) / ln(1.02))::integer + 40000
      else -(ceil(ln(-v) / ln(1.02))::integer + 40000)
    end
  $$;
