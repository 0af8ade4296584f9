-- Alert rules, their state, their history and webhook deliveries (src/alerts/*).
--
-- The application role manages its tenant's rules and reads their history (row-level
-- security, as on every ordinary table). The evaluation job and the webhook worker run as the
-- owner over every tenant: they get an owner policy on each table.
create table alert_rules (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references tenants (id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  kind text not null check (kind in ('THRESHOLD', 'ERROR_RATE', 'ABSENCE')),
  -- A recorded metric or a metric definition.
  metric text not null check (length(metric) between 1 and 255),
  aggregation text not null check (aggregation in ('AVG', 'SUM', 'MIN', 'MAX', 'COUNT', 'LAST', 'RATE', 'P50', 'P90', 'P95', 'P99')),
  tags jsonb not null default '{}',
  filters jsonb not null default '[]',
  -- ERROR_RATE: the filters that pick the errors among the series `filters` picks.
  error_filters jsonb not null default '[]',
  comparison text not null check (comparison in ('GT', 'GTE', 'LT', 'LTE', 'EQ', 'NEQ')),
  threshold double precision not null,
  window_seconds integer not null check (window_seconds between 60 and 86400),
  for_seconds integer not null check (for_seconds between 0 and 86400),
  cooldown_seconds integer not null check (cooldown_seconds between 0 and 604800),
  severity text not null check (severity in ('INFO', 'WARNING', 'CRITICAL')),
  labels jsonb not null default '{}',
  webhook_url text check (length(webhook_url) <= 2000),
  -- HMAC-SHA256 key of the webhook's signatures; shown to the creator once.
  webhook_secret text,
  paused boolean not null default false,
  -- Who created it (`key:<id>` or `jwt:<subject>`) and with which role: evaluation reads as them.
  created_by text,
  created_role text not null check (created_role in ('ADMIN', 'MANAGER', 'DEVELOPER', 'VIEWER')),
  created_key_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Evaluation state.
  state text not null default 'OK' check (state in ('OK', 'PENDING', 'FIRING', 'RESOLVED')),
  pending_since timestamptz,
  last_fired_at timestamptz,
  last_value double precision,
  last_evaluated_at timestamptz,
  unique (tenant_id, name),
  unique (tenant_id, id),
  check ((webhook_url is null) = (webhook_secret is null))
);

create table alert_events (
  id bigint generated always as identity primary key,
  tenant_id uuid not null,
  rule_id uuid not null,
  at timestamptz not null,
  from_state text not null,
  to_state text not null,
  value double precision,
  threshold double precision not null,
  details jsonb not null default '{}',
  foreign key (tenant_id, rule_id) references alert_rules (tenant_id, id) on delete cascade
);
create index alert_events_rule on alert_events (tenant_id, rule_id, id desc);
create index alert_events_tenant on alert_events (tenant_id, id desc);

-- One row per event and webhook: PENDING until delivered or out of attempts.
create table webhook_deliveries (
  id bigint generated always as identity primary key,
  tenant_id uuid not null,
  event_id bigint not null references alert_events (id) on delete cascade,
  rule_id uuid not null,
  url text not null,
  status text not null default 'PENDING' check (status in ('PENDING', 'DELIVERED', 'FAILED')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_status_code integer,
  last_error text,
  delivered_at timestamptz,
  created_at timestamptz not null default now()
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'PENDING';
create index webhook_deliveries_rule on webhook_deliveries (tenant_id, rule_id, id desc);

-- The delivery log: every attempt.
create table webhook_attempts (
  id bigint generated always as identity primary key,
  tenant_id uuid not null,
  delivery_id bigint not null references webhook_deliveries (id) on delete cascade,
  attempt integer not null,
  at timestamptz not null default now(),
  status_code integer,
  error text,
  duration_ms double precision not null
);
create index webhook_attempts_delivery on webhook_attempts (delivery_id, attempt);

do $$
declare t text;
begin
  foreach t in array array['alert_rules', 'alert_events', 'webhook_deliveries', 'webhook_attempts'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('create policy %I on %I using (tenant_id = current_tenant_id()) with check (tenant_id = current_tenant_id())', t || '_own', t);
    execute format('create policy %I on %I to %I using (true) with check (true)', t || '_jobs', t, current_user);
  end loop;
end $$;

grant select, insert, delete on alert_rules to metrograph_app;
-- Its configuration only: the state columns are the evaluation job's.
grant update (name, kind, metric, aggregation, tags, filters, error_filters, comparison, threshold, window_seconds, for_seconds,
              cooldown_seconds, severity, labels, webhook_url, webhook_secret, paused, updated_at) on alert_rules to metrograph_app;
grant select on alert_events, webhook_deliveries, webhook_attempts to metrograph_app;
