"""The demo: a deterministic story over three models (`story`) and its synthetic data (`data`),
told through the real jobs. Imported by the CLI only."""
