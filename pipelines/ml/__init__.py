"""Pure computation over frames and arrays: features and estimators, the drift engine, label-free
estimation, data quality. No lakehouse, no context, no I/O; imported by jobs and reads."""
