"""Reading the CSV and Parquet files users hand to ingest and labels."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from governance.errors import InputError, first_line

_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_input_file(path: Path) -> pl.DataFrame:
    """The file's rows as a frame; refuses missing, unknown-format, unreadable or empty files, and directories."""
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a directory, expected a CSV or Parquet file")
    if not path.is_file():
        raise InputError(f"file {str(path)!r} does not exist")
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"file {str(path)!r} is not CSV or Parquet: expected a .csv, .parquet or .pq file")
    try:
        frame = pl.read_csv(path, infer_schema_length=10_000) if kind == "csv" else pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise InputError(f"file {str(path)!r} cannot be read as {kind}: {first_line(error)}") from None
    if frame.height == 0:
        raise InputError(f"file {str(path)!r} has no rows")
    return frame
