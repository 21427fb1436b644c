"""Adapters to every outside system: Delta tables, MLflow, Evidently, DuckDB, settings."""
