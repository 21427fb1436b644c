"""Adapters to every outside system, one module each: `storage` (where tables live) and `delta` (the
table store every read and write goes through), `audit/` (the hash-chained trail on Delta), `seals`,
`registry` (MLflow), `evidently_drift`, `sql` (DuckDB), `accounts`, `records` (governance entities to
and from their tables), `schemas` (every table, declared once), `settings`, `files`. Imported by
pipelines and the app; imports only governance."""
