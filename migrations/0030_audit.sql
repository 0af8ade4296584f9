-- The audit log: who did what, to which tenant's data, when and from where. Append-only.
--
-- Rows are written by the application role in the same transaction as the change they record
-- (src/audit.ts), so a change and its record commit or roll back together. The application
-- role may insert and read its tenant's rows (row-level security, as on every ordinary
-- table); it has no UPDATE or DELETE privilege, and a trigger refuses UPDATE to every role.
create table audit_log (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references tenants (id) on delete cascade,
  at timestamptz not null default clock_timestamp(),
  -- Who: an API key (its id), a JWT (its subject), the operator token, or the service itself (a job).
  actor_kind text not null check (actor_kind in ('api_key', 'jwt', 'operator', 'system')),
  actor_key_id uuid,
  actor_subject text check (length(actor_subject) <= 200),
  actor_role text check (actor_role in ('ADMIN', 'MANAGER', 'DEVELOPER', 'VIEWER')),
  action text not null check (action ~ '^[A-Z_]{3,50}$'),
  -- What it acted on: a metric name, a key id, an alert rule id…
  target text check (length(target) <= 500),
  details jsonb not null default '{}',
  -- From where: the request (its id is in the logs too), the peer address and user agent.
  request_id text check (length(request_id) <= 100),
  source_ip text check (length(source_ip) <= 100),
  forwarded_for text check (length(forwarded_for) <= 500),
  user_agent text check (length(user_agent) <= 500)
);
-- auditLog pages newest first within a tenant, optionally by action.
create index audit_log_tenant_id on audit_log (tenant_id, id desc);
create index audit_log_tenant_action on audit_log (tenant_id, action, id desc);

alter table audit_log enable row level security;
alter table audit_log force row level security;
create policy audit_log_read on audit_log for select using (tenant_id = current_tenant_id());
create policy audit_log_write on audit_log for insert with check (tenant_id = current_tenant_id());
-- The owner (jobs acting for the service, a tenant's deletion cascading) is not bound to one tenant.
do $$ begin
  execute format('create policy audit_log_owner on audit_log to %I using (true) with check (true)', current_user);
end $$;

grant select, insert on audit_log to metrograph_app;

-- Nobody rewrites history, the owner included. A DELETE is refused too unless it cascades from
-- a tenant's deletion (a foreign-key action runs one trigger level down).
create function audit_log_append_only() returns trigger
  language plpgsql
  as $$
  begin
    if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
      return old;
    end if;
    raise exception 'audit_log is append-only: % is not allowed', tg_op
      using errcode = 'insufficient_privilege';
  end
  $$;
create trigger audit_log_append_only before update or delete on audit_log
  for each row execute function audit_log_append_only();
