-- The audit log is append-only (0030): the application role may only insert, and a trigger
-- refuses UPDATE to every role and DELETE outside a tenant's cascade. TRUNCATE fires no row
-- trigger, so until now the schema owner could empty the log in one statement. A statement
-- trigger refuses it to every role, the owner included.
--
-- What this does not do: the owner (or a superuser) can still disable or drop the trigger
-- first, as it owns the table. Against that, keep the owner's credentials out of the service's
-- hands after migrating, or ship the log elsewhere; no in-database measure binds the owner.
create function audit_log_no_truncate() returns trigger
language plpgsql as $$
begin
  raise exception 'audit_log is append-only: TRUNCATE is refused' using errcode = 'insufficient_privilege';
end
$$;

create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function audit_log_no_truncate();
