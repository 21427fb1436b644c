"""Everything that writes: each job runs inside `context.job_run`, authorizes its actor, writes its
tables, lineage and audit records, and leaves an ops/runs row. Imported by cli, demo and the app."""
