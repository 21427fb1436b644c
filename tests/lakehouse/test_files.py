"""read_input_file: CSV and Parquet in, clear InputErrors naming the file for everything else."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from governance.errors import InputError
from lakehouse.files import read_input_file

FRAME = pl.DataFrame({"id": [1, 2, 3], "income": [10.5, 20.0, 30.25], "grade": ["a", "b", "c"]})


def test_reads_csv(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    FRAME.write_csv(path)
    assert_frame_equal(read_input_file(path), FRAME)


def test_reads_csv_with_uppercase_extension(tmp_path: Path) -> None:
    path = tmp_path / "LOANS.CSV"
    FRAME.write_csv(path)
    assert read_input_file(path).height == 3


def test_csv_type_inference_looks_past_the_first_rows(tmp_path: Path) -> None:
    # A float first appearing after polars' default 100-row inference window.
    path = tmp_path / "late_float.csv"
    path.write_text("x\n" + "1\n" * 500 + "1.5\n")
    frame = read_input_file(path)
    assert frame.schema["x"] == pl.Float64
    assert frame["x"][-1] == 1.5


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_reads_parquet(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"loans{suffix}"
    FRAME.write_parquet(path)
    assert_frame_equal(read_input_file(path), FRAME)


def test_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothere\.csv.*does not exist"):
        read_input_file(tmp_path / "nothere.csv")


def test_directory_is_refused_as_a_directory_not_as_missing(tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(InputError, match=r"folder\.csv' is a directory, expected a CSV or Parquet file") as raised:
        read_input_file(folder)
    assert "does not exist" not in str(raised.value)


@pytest.mark.parametrize("name", ["loans.xlsx", "loans.json", "loans"])
def test_unknown_extension_is_refused_by_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("id\n1\n")
    with pytest.raises(InputError, match="not CSV or Parquet") as raised:
        read_input_file(path)
    assert name in str(raised.value)


def test_header_only_csv_is_refused_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("id,income,grade\n")
    with pytest.raises(InputError, match=r"empty\.csv.*has no rows"):
        read_input_file(path)


def test_zero_byte_csv_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "zero.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"zero\.csv"):
        read_input_file(path)


def test_empty_parquet_is_refused_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    FRAME.clear().write_parquet(path)
    with pytest.raises(InputError, match=r"empty\.parquet.*has no rows"):
        read_input_file(path)


def test_garbage_parquet_is_refused_by_name_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"this is not a parquet file at all\n" * 10)
    with pytest.raises(InputError, match=r"garbage\.parquet.*cannot be read as parquet") as raised:
        read_input_file(path)
    assert "\n" not in str(raised.value)


def test_csv_with_ragged_rows_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(InputError, match=r"ragged\.csv.*cannot be read as csv"):
        read_input_file(path)


def test_non_finite_csv_values_are_read_as_float_nan_and_inf_and_empty_fields_as_null(tmp_path: Path) -> None:
    # what ingest's finiteness rule relies on: 'NaN' and 'inf' are values, an empty field is missing
    path = tmp_path / "odd.csv"
    path.write_text("id,x\n1,1.5\n2,NaN\n3,inf\n4,\n5,1e309\n")
    x = read_input_file(path)["x"]
    assert x.dtype == pl.Float64
    assert x.null_count() == 1
    assert (~x.is_finite()).sum() == 3
