-- ANOMALY alert rules (src/anomaly/, src/alerts/evaluate.ts): the newest whole hour of a
-- metric against its seasonal baseline. Three settings of their own, with defaults so the
-- other kinds' rows need nothing; the application role may change them as it may the rest
-- of a rule's configuration.
alter table alert_rules drop constraint alert_rules_kind_check;
alter table alert_rules add constraint alert_rules_kind_check check (kind in ('THRESHOLD', 'ERROR_RATE', 'ABSENCE', 'ANOMALY'));
alter table alert_rules
  add column sensitivity text not null default 'MEDIUM' check (sensitivity in ('LOW', 'MEDIUM', 'HIGH')),
  -- Weeks of history read before the judged hour.
  add column history_weeks integer not null default 4 check (history_weeks between 1 and 8),
  -- A series with less history than this is still learning: the rule does not hold.
  add column min_history_days integer not null default 7 check (min_history_days between 1 and 56);
grant update (sensitivity, history_weeks, min_history_days) on alert_rules to metrograph_app;
