-- Tenants, API keys and the role every request runs as.
--
-- Requests run as metrograph_app: it owns nothing, is not a superuser and has no BYPASSRLS,
-- so the row-level security policies below bind it. The connecting (owner) role switches to it
-- per transaction with set_config('role', …, true), which needs membership.
do $$ begin
  create role metrograph_app nologin noinherit;
exception when duplicate_object or unique_violation then null;
end $$;

do $$ begin
  execute format('grant metrograph_app to %I', current_user);
exception when others then null; -- already a member, or a superuser (who needs no grant)
end $$;

-- The tenant of the current transaction, or null when none is set.
create function current_tenant_id() returns uuid
  language sql stable parallel safe
  as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;

create table tenants (
  id uuid primary key,
  name text not null unique check (length(name) between 1 and 100),
  created_at timestamptz not null default now()
);
alter table tenants enable row level security;
alter table tenants force row level security;
create policy tenants_own on tenants
  using (id = current_tenant_id())
  with check (id = current_tenant_id());

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references tenants (id) on delete cascade,
  name text not null check (length(name) between 1 and 100),
  role text not null check (role in ('ADMIN', 'MANAGER', 'DEVELOPER', 'VIEWER')),
  prefix text not null,
  key_hash text not null unique,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  last_used_at timestamptz
);
create index api_keys_tenant on api_keys (tenant_id);
alter table api_keys enable row level security;
alter table api_keys force row level security;
-- A key's own row is visible without a tenant to whoever presents the hash of its secret:
-- that is how a request is authenticated before its tenant is known. Knowing the hash
-- requires knowing the key, so this reveals nothing else.
create policy api_keys_own on api_keys
  using (tenant_id = current_tenant_id() or key_hash = current_setting('app.key_hash', true))
  with check (tenant_id = current_tenant_id());

-- Service-wide facts the owner keeps (e.g. that the dev tenant was bootstrapped). Not granted.
create table service_state (
  key text primary key,
  value jsonb not null
);

grant usage on schema public to metrograph_app;
grant select, insert on tenants to metrograph_app;
grant select, insert on api_keys to metrograph_app;
grant update (revoked_at, last_used_at) on api_keys to metrograph_app;
