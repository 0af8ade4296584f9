-- Metrics, series and points, Prometheus-style: a metric has one type and unit; a series is
-- one distinct tag set of a metric; points are narrow rows (series, time, value) that
-- reference their series. Cardinality is then a count of series rows.

create table metrics (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references tenants (id) on delete cascade,
  name text not null,
  type text not null check (type in ('COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY')),
  unit text,
  created_at timestamptz not null default now(),
  unique (tenant_id, name),
  unique (tenant_id, id)
);

create table series (
  id bigint generated always as identity primary key,
  tenant_id uuid not null,
  metric_id bigint not null,
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  unique (tenant_id, id),
  foreign key (tenant_id, metric_id) references metrics (tenant_id, id) on delete cascade
);
-- One row per distinct tag set. jsonb text is canonical (keys sorted), and hashing it keeps
-- the index entry small whatever the tags' size.
create unique index series_identity on series (metric_id, md5(tags::text));
create index series_tags on series using gin (tags jsonb_path_ops);

-- Client-supplied point ids, so a resent item is stored once.
create table point_ids (
  tenant_id uuid not null,
  id uuid not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);

-- The points. On TimescaleDB a later migration makes this a hypertable chunked by time.
-- The application role has no privilege on it: it reads and writes through tenant_points.
create table points (
  tenant_id uuid not null,
  series_id bigint not null,
  time timestamptz not null,
  value double precision not null,
  id uuid not null,
  -- Writes are checked in the database: a point can only name a series of its own tenant.
  foreign key (tenant_id, series_id) references series (tenant_id, id)
);
create index points_series_time on points (series_id, time desc);

-- The tenant-filtered way to the points (see DESIGN.md §2: RLS cannot sit on a hypertable that
-- has continuous aggregates or compression). security_barrier keeps user predicates from
-- being evaluated before the tenant filter; the check option rejects a write for another tenant.
create view tenant_points with (security_barrier) as
  select tenant_id, series_id, time, value, id
  from points
  where tenant_id = current_tenant_id()
  with cascaded check option;

do $$
declare t text;
begin
  foreach t in array array['metrics', 'series', 'point_ids'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('create policy %I on %I using (tenant_id = current_tenant_id()) with check (tenant_id = current_tenant_id())', t || '_own', t);
  end loop;
end $$;

grant select, insert on metrics, series, point_ids to metrograph_app;
grant select, insert on tenant_points to metrograph_app;
