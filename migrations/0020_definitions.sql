-- Custom metric definitions: a named formula over recorded metrics, versioned.
--
-- metric_definitions holds one row per definition (its name, who may see it, its latest
-- version); metric_definition_versions keeps every version, so old ones stay readable.
--
-- Who may see and change a definition is enforced here as well as in the resolvers. Each
-- transaction that touches definitions sets, next to app.tenant_id:
--   app.principal  the caller's identity (`key:<api key id>`), empty for a JWT (it carries none we keep)
--   app.role       ADMIN, MANAGER, DEVELOPER or VIEWER
-- PRIVATE definitions are visible to their creator, and to ADMIN and MANAGER, who manage all.
-- A transaction that sets neither sees only TENANT definitions: forgetting is safe.

create function current_principal() returns text
  language sql stable parallel safe
  as $$ select nullif(current_setting('app.principal', true), '') $$;

create function current_app_role() returns text
  language sql stable parallel safe
  as $$ select nullif(current_setting('app.role', true), '') $$;

create table metric_definitions (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references tenants (id) on delete cascade,
  name text not null check (name ~ '^[a-zA-Z][a-zA-Z0-9._-]*$' and length(name) <= 255),
  visibility text not null check (visibility in ('PRIVATE', 'TENANT')),
  -- null when the creator has no identity we keep (a JWT): such a definition has no owner but ADMIN and MANAGER.
  created_by text,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, name),
  unique (tenant_id, id),
  check (visibility = 'TENANT' or created_by is not null)
);

create table metric_definition_versions (
  tenant_id uuid not null,
  definition_id uuid not null,
  version integer not null check (version >= 1),
  formula text not null check (length(formula) between 1 and 2000),
  description text check (length(description) <= 1000),
  unit text check (length(unit) <= 50),
  -- TagFilter objects ({ key, equals | notEquals | in | notIn | exists }) applied to every reference.
  filters jsonb not null default '[]',
  group_by jsonb not null default '[]',
  -- The recorded metrics the formula reads, for dependants (live queries, alerts) and listings.
  metrics text[] not null,
  created_by text,
  created_at timestamptz not null default now(),
  primary key (definition_id, version),
  foreign key (tenant_id, definition_id) references metric_definitions (tenant_id, id) on delete cascade
);

alter table metric_definitions enable row level security;
alter table metric_definitions force row level security;
alter table metric_definition_versions enable row level security;
alter table metric_definition_versions force row level security;

create policy definitions_read on metric_definitions for select
  using (tenant_id = current_tenant_id()
         and (visibility = 'TENANT' or created_by = current_principal() or current_app_role() in ('ADMIN', 'MANAGER')));
create policy definitions_create on metric_definitions for insert
  with check (tenant_id = current_tenant_id()
              and created_by is not distinct from current_principal()
              and current_app_role() in ('ADMIN', 'MANAGER', 'DEVELOPER'));
-- DEVELOPER changes their own; ADMIN and MANAGER change all.
create policy definitions_change on metric_definitions for update
  using (tenant_id = current_tenant_id()
         and ((created_by = current_principal() and current_app_role() = 'DEVELOPER') or current_app_role() in ('ADMIN', 'MANAGER')))
  with check (tenant_id = current_tenant_id() and (visibility = 'TENANT' or created_by is not null));
create policy definitions_delete on metric_definitions for delete
  using (tenant_id = current_tenant_id()
         and ((created_by = current_principal() and current_app_role() = 'DEVELOPER') or current_app_role() in ('ADMIN', 'MANAGER')));

-- A version is visible with its definition (the subquery is itself filtered by the policies
-- above), and written only by whoever may change the definition.
create policy definition_versions_read on metric_definition_versions for select
  using (tenant_id = current_tenant_id()
         and exists (select 1 from metric_definitions d where d.id = definition_id));
create policy definition_versions_create on metric_definition_versions for insert
  with check (tenant_id = current_tenant_id()
              and created_by is not distinct from current_principal()
              and exists (select 1 from metric_definitions d
                          where d.id = definition_id
                            and ((d.created_by = current_principal() and current_app_role() in ('ADMIN', 'MANAGER', 'DEVELOPER'))
                                 or current_app_role() in ('ADMIN', 'MANAGER'))));

grant select, insert, delete on metric_definitions to metrograph_app;
grant update (visibility, version, updated_at) on metric_definitions to metrograph_app;
grant select, insert on metric_definition_versions to metrograph_app;
grant execute on function current_principal(), current_app_role() to metrograph_app;

-- Regular expressions in formulas are compiled by PostgreSQL, never by JavaScript. This says
-- whether one compiles (null) or why not, so a formula's error can point at the matcher.
create function regex_error(pattern text) returns text
  language plpgsql immutable strict parallel safe
  as $$
begin
  perform '' ~ pattern;
  return null;
exception when invalid_regular_expression then
  return sqlerrm;
end $$;
grant execute on function regex_error(text) to metrograph_app;

-- The representative value of a sketch key (0004_sketch.sql): 2·γ^i/(γ+1), signed; the same
-- as keyValue() in src/query/sketch.ts, so formulas can interpolate percentiles in SQL.
-- Examples: sketch_value(40000) = 0.990099…, sketch_value(0) = 0.
create function sketch_value(k integer) returns double precision
  language sql immutable strict parallel safe
  as $$
    select case
      when k = 0 then 0::float8
      when k > 0 then 2 * power(1.02::float8, k - 40000) / 2.02
      else -2 * power(1.02::float8, -k - 40000) / 2.02
    end
  $$;
grant execute on function sketch_value(integer) to metrograph_app;
