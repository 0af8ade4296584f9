-- A tenant's jobRuns page (src/jobs/job-runs.ts) read job_runs newest first and kept its own
-- rows: every tenant's runs and the service-wide ones (several a minute) were read to find a
-- tenant's few. Its rows now have an index of their own; service-wide rows (tenant_id null)
-- are not in it. The retention job bounds the table (JOB_RUNS_RETENTION_DAYS).
create index job_runs_tenant_recent on job_runs (tenant_id, started_at desc, id desc) where tenant_id is not null;
