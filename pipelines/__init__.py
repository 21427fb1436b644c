"""Batch jobs (ingest, train, promote, score, labels, monitor, demo) and the mlgov CLI."""
