from pathlib import Path

import polars as pl

from lakehouse.changes import local_change_stamp


def _append(root: Path, table: str, value: int) -> None:
    pl.DataFrame({"x": [value]}).write_delta(root / table, mode="append")


def test_the_stamp_moves_with_each_commit_and_new_table_and_only_then(tmp_path: Path) -> None:
    root = tmp_path / "lakehouse"
    database = tmp_path / "mlflow.db"
    database.write_text("")
    _append(root, "predictions", 1)
    _append(root, "governance/audit", 1)
    first = local_change_stamp(root, files=[database])

    assert local_change_stamp(root, files=[database]) == first  # nothing changed: the same stamp

    _append(root, "governance/audit", 2)  # a commit to a table two folders deep
    second = local_change_stamp(root, files=[database])
    assert {key for key in second if second[key] != first[key]} == {"governance/audit"}  # names what changed

    _append(root, "raw/loans", 1)  # a new group and table
    third = local_change_stamp(root, files=[database])
    assert {"raw/", "raw/loans"} <= {key for key in third if third.get(key) != second.get(key)}

    _append(root, "predictions", 2)
    fourth = local_change_stamp(root, files=[database])
    assert fourth != third

    database.write_text("changed")  # MLflow's registry was written
    assert local_change_stamp(root, files=[database]) != fourth


def test_a_missing_lakehouse_has_a_stamp_too(tmp_path: Path) -> None:
    assert local_change_stamp(tmp_path / "absent") == local_change_stamp(tmp_path / "absent")
