-- Distribution points: one row may stand for many observations, so a pre-aggregated
-- histogram (OTLP Histogram and ExponentialHistogram, Prometheus native histograms) is
-- stored without expanding it into one row per observation and without losing its exact
-- count, sum, min and max.
--
-- A plain observation leaves all four columns null (the null bitmap costs one byte), so the
-- narrow row stays narrow. A histogram point is written as one row per non-empty bucket:
--   value       the bucket's representative value (it lands in the same sketch cell)
--   weight      the bucket's count (null = 1)
-- and on exactly one of those rows the exact figures the buckets cannot carry:
--   sum_adjust  exact sum − Σ value × weight over the point's rows (null = 0)
--   min_value, max_value  the point's exact min and max (null = value)
-- So, over any set of rows: count = Σ coalesce(weight, 1);
--   sum = Σ value × coalesce(weight, 1) + Σ coalesce(sum_adjust, 0);
--   min = min(coalesce(min_value, value)); max = max(coalesce(max_value, value));
--   sketch cell of value counted coalesce(weight, 1) times.
alter table points add column weight bigint check (weight is null or weight >= 0);
alter table points add column sum_adjust double precision;
alter table points add column min_value double precision;
alter table points add column max_value double precision;

create or replace view tenant_points with (security_barrier) as
  select tenant_id, series_id, time, value, id, weight, sum_adjust, min_value, max_value
  from points
  where tenant_id = current_tenant_id()
  with cascaded check option;
