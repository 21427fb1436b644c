"""Jobs, read models and the mlgov CLI, over the lakehouse adapters.

cli/      the `mlgov` command line, one module per command group; imports jobs, reads and demo
demo/     the demo story and its synthetic data, told through the real jobs
jobs/     everything that writes: ingest, train, score, labels, monitor, retrain, promote, access,
          users, evidence export
reads/    what the app and the CLI read (read models); never writes
ml/       pure computation on frames and arrays: modeling, the drift engine, estimation, quality;
          no lakehouse, no context
context.py  the composition root: settings, the store, the registry, the audit log, and `job_run`

Imports point down: cli -> demo -> jobs -> reads -> ml (import-linter keeps it so); the app uses
jobs and reads, never cli.
"""
