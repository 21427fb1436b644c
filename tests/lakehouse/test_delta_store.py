"""DeltaStore against real Delta tables in tmp_path: schemas, commit metadata, time travel, CAS appends."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError
from polars.testing import assert_frame_equal

from governance.errors import ConflictError, InputError, NotFoundError
from lakehouse import schemas
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.storage import CHECKPOINT_EVERY, Storage

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
COMMIT = CommitInfo(run_id="run-123", job="test-job", actor="alice")


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(Storage(tmp_path / "lakehouse"))


def lineage_rows(*dst_ids: str, at: datetime = T0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "src_type": ["table"] * len(dst_ids),
            "src_id": ["raw/loans@0"] * len(dst_ids),
            "relation": ["trained"] * len(dst_ids),
            "dst_type": ["model_version"] * len(dst_ids),
            "dst_id": list(dst_ids),
            "at": [at + timedelta(seconds=i) for i in range(len(dst_ids))],
            "run_id": ["run-123"] * len(dst_ids),
        }
    )


def run_row(**overrides: object) -> pl.DataFrame:
    row: dict[str, object] = {
        "run_id": "run-1",
        "job": "score",
        "actor": "alice",
        "model": "loan_default",
        "started_at": T0,
        "ended_at": T0 + timedelta(seconds=3),
        "wall_seconds": 3.0,
        "cpu_seconds": 2.5,
        "rows": 400,
        "bytes_written": 1024,
        "status": "ok",
        "error": "",
    }
    row.update(overrides)
    return pl.DataFrame([row])


def one_row(schema: pl.Schema) -> pl.DataFrame:
    """A one-row frame of the declared schema, with a plausible value per dtype."""
    values: dict[type, object] = {pl.String: "x", pl.Int64: 1, pl.Float64: 1.5, pl.Boolean: True, pl.List: [0.5]}
    row = {name: T0 if isinstance(dtype, pl.Datetime) else values[type(dtype)] for name, dtype in schema.items()}
    return pl.DataFrame([row], schema=schema)


def table_config(store: DeltaStore, table: str) -> dict[str, str | None]:
    return DeltaTable(str(store.path(table))).metadata().configuration


# --- round trip and commit metadata -------------------------------------------------------------


def test_append_then_read_round_trips_rows_with_utc_timestamps(store: DeltaStore) -> None:
    frame = lineage_rows("loan_default/1", "loan_default/2")

    result = store.append(schemas.LINEAGE, frame, commit=COMMIT)

    assert result.table == schemas.LINEAGE
    assert result.version == 0
    assert result.rows == 2
    assert result.bytes_written > 0
    read = store.read(schemas.LINEAGE).sort("dst_id")
    assert read.schema == schemas.SCHEMAS[schemas.LINEAGE]
    assert read.schema["at"] == pl.Datetime("us", "UTC")
    assert_frame_equal(read, frame)


def test_runs_table_round_trip_keeps_every_declared_column(store: DeltaStore) -> None:
    frame = run_row()
    result = store.append(schemas.RUNS, frame, commit=COMMIT)
    assert result.rows == 1
    assert result.bytes_written > 0
    assert_frame_equal(store.read(schemas.RUNS), frame.cast(schemas.SCHEMAS[schemas.RUNS]))


def test_commit_metadata_carries_run_id_job_and_actor(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)
    store.append(schemas.LINEAGE, lineage_rows("b"), commit=CommitInfo(run_id="run-456", job="train", actor="bob"))

    history = DeltaTable(str(store.path(schemas.LINEAGE))).history()
    by_version = {entry["version"]: entry for entry in history}

    assert by_version[0]["mlgov.run_id"] == "run-123"
    assert by_version[0]["mlgov.job"] == "test-job"
    assert by_version[0]["mlgov.actor"] == "alice"
    assert (by_version[1]["mlgov.run_id"], by_version[1]["mlgov.job"], by_version[1]["mlgov.actor"]) == (
        "run-456",
        "train",
        "bob",
    )


def test_commit_versions_map_each_run_to_the_version_it_committed(store: DeltaStore) -> None:
    for run_id in ("run-a", "run-b", "run-a"):
        store.append(schemas.LINEAGE, lineage_rows("x"), commit=CommitInfo(run_id=run_id, job="j", actor="alice"))
    assert store.commit_versions(schemas.LINEAGE) == {"run-a": 2, "run-b": 1}


def test_append_at_version_also_stamps_commit_metadata(store: DeltaStore) -> None:
    store.append_at_version(schemas.LINEAGE, lineage_rows("a"), expected_version=None, commit=COMMIT)
    store.append_at_version(
        schemas.LINEAGE, lineage_rows("b"), expected_version=0, commit=CommitInfo("run-9", "audit", "carol")
    )
    history = {e["version"]: e for e in DeltaTable(str(store.path(schemas.LINEAGE))).history()}
    assert history[0]["mlgov.actor"] == "alice"
    assert history[1]["mlgov.run_id"] == "run-9"
    assert history[1]["mlgov.job"] == "audit"
    assert history[1]["mlgov.actor"] == "carol"


def test_write_result_version_and_bytes_follow_each_commit(store: DeltaStore) -> None:
    first = store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)
    second = store.append(schemas.LINEAGE, lineage_rows("b", "c", "d"), commit=COMMIT)
    assert (first.version, second.version) == (0, 1)
    assert second.rows == 3
    assert second.bytes_written > 0
    assert store.version(schemas.LINEAGE) == 1


# --- schema validation --------------------------------------------------------------------------


def test_missing_column_is_refused_by_name_and_nothing_is_written(store: DeltaStore) -> None:
    with pytest.raises(InputError, match=r"column 'dst_id' is missing"):
        store.append(schemas.LINEAGE, lineage_rows("a").drop("dst_id"), commit=COMMIT)
    assert not store.exists(schemas.LINEAGE)
    assert not store.path(schemas.LINEAGE).exists()


def test_extra_column_is_refused_by_name_and_nothing_is_written(store: DeltaStore) -> None:
    frame = lineage_rows("a").with_columns(pl.lit("oops").alias("surprise"))
    with pytest.raises(InputError, match=r"column 'surprise' is not in the table"):
        store.append(schemas.LINEAGE, frame, commit=COMMIT)
    assert not store.exists(schemas.LINEAGE)


def test_string_into_int_column_is_refused_and_version_unchanged(store: DeltaStore) -> None:
    store.append(schemas.RUNS, run_row(), commit=COMMIT)

    with pytest.raises(InputError, match=r"column 'rows' has type String, expected Int64"):
        store.append(schemas.RUNS, run_row(rows="400"), commit=COMMIT)

    assert store.version(schemas.RUNS) == 0
    assert store.read(schemas.RUNS).height == 1


def test_float_into_int_column_is_refused_rather_than_truncated(store: DeltaStore) -> None:
    with pytest.raises(InputError, match=r"column 'rows' has type Float64, expected Int64"):
        store.append(schemas.RUNS, run_row(rows=1.5), commit=COMMIT)
    assert not store.exists(schemas.RUNS)


def test_naive_datetime_is_refused(store: DeltaStore) -> None:
    frame = lineage_rows("a").with_columns(pl.col("at").dt.replace_time_zone(None))
    assert frame.schema["at"] == pl.Datetime("us")
    with pytest.raises(InputError, match=r"column 'at' holds timestamps without a time zone"):
        store.append(schemas.LINEAGE, frame, commit=COMMIT)
    assert not store.exists(schemas.LINEAGE)


def test_other_time_zone_is_stored_as_the_same_instant_in_utc(store: DeltaStore) -> None:
    paris = datetime(2026, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))  # 12:00 UTC
    frame = lineage_rows("a").with_columns(pl.lit(paris).dt.cast_time_unit("ns").alias("at"))
    store.append(schemas.LINEAGE, frame, commit=COMMIT)
    read = store.read(schemas.LINEAGE)
    assert read.schema["at"] == pl.Datetime("us", "UTC")
    assert read["at"].to_list() == [T0]


def test_int_into_float_column_is_cast(store: DeltaStore) -> None:
    frame = run_row(wall_seconds=3, cpu_seconds=2)
    assert frame.schema["wall_seconds"] == pl.Int64

    store.append(schemas.RUNS, frame, commit=COMMIT)

    read = store.read(schemas.RUNS)
    assert read.schema["wall_seconds"] == pl.Float64
    assert read["wall_seconds"].to_list() == [3.0]
    assert read["cpu_seconds"].to_list() == [2.0]


def test_all_null_column_is_accepted_as_the_declared_type(store: DeltaStore) -> None:
    frame = run_row(error=None, model=None)
    assert frame.schema["error"] == pl.Null
    store.append(schemas.RUNS, frame, commit=COMMIT)
    read = store.read(schemas.RUNS)
    assert read.schema["error"] == pl.String
    assert read["error"].to_list() == [None]


def test_column_order_of_the_frame_does_not_matter(store: DeltaStore) -> None:
    frame = lineage_rows("a")
    store.append(schemas.LINEAGE, frame.select(reversed(frame.columns)), commit=COMMIT)
    read = store.read(schemas.LINEAGE)
    assert read.columns == list(schemas.SCHEMAS[schemas.LINEAGE])
    assert_frame_equal(read, frame)


# --- undeclared (ingested) tables ---------------------------------------------------------------


def test_undeclared_table_takes_its_schema_from_the_first_write(store: DeltaStore) -> None:
    first = pl.DataFrame({"id": [1, 2], "name": ["a", "b"], "at": [T0, T0]})
    store.append("raw/x", first, commit=COMMIT)
    assert store.schema("raw/x") == pl.Schema({"id": pl.Int64, "name": pl.String, "at": pl.Datetime("us", "UTC")})

    with pytest.raises(InputError, match=r"column 'colour' is not in the table"):
        store.append("raw/x", first.with_columns(pl.lit("red").alias("colour")), commit=COMMIT)
    with pytest.raises(InputError, match=r"column 'name' is missing"):
        store.append("raw/x", first.rename({"name": "label"}), commit=COMMIT)
    with pytest.raises(InputError, match=r"column 'id' has type String"):
        store.append("raw/x", first.with_columns(pl.col("id").cast(pl.String)), commit=COMMIT)

    assert store.version("raw/x") == 0
    assert store.read("raw/x").height == 2


def test_values_that_do_not_fit_the_schema_are_refused_in_one_line(store: DeltaStore) -> None:
    store.append("raw/x", pl.DataFrame({"id": [1]}, schema={"id": pl.Int32}), commit=COMMIT)
    with pytest.raises(InputError, match="values do not fit the schema") as raised:
        store.append("raw/x", pl.DataFrame({"id": [2**40]}), commit=COMMIT)
    message = str(raised.value)
    assert message.startswith("table 'raw/x': values do not fit the schema: conversion from `i64` to `i32` failed")
    assert "\n" not in message
    assert "expression" not in message  # polars' expression dump stays out
    assert store.version("raw/x") == 0


def test_undeclared_table_accepts_a_later_frame_of_the_same_schema(store: DeltaStore) -> None:
    store.append("raw/x", pl.DataFrame({"id": [1], "v": [0.5]}), commit=COMMIT)
    store.append("raw/x", pl.DataFrame({"v": [2], "id": [2]}), commit=COMMIT)  # int v cast to float
    read = store.read("raw/x").sort("id")
    assert read.to_dict(as_series=False) == {"id": [1, 2], "v": [0.5, 2.0]}
    assert store.list_tables("raw") == ["raw/x"]


def test_undeclared_table_first_write_refuses_naive_timestamps(store: DeltaStore) -> None:
    with pytest.raises(InputError, match=r"column 'at'"):
        store.append("raw/x", pl.DataFrame({"at": [datetime(2026, 1, 1)]}), commit=COMMIT)
    assert not store.exists("raw/x")


def test_undeclared_tables_are_not_append_only(store: DeltaStore) -> None:
    store.append("raw/x", pl.DataFrame({"id": [1]}), commit=COMMIT)
    store.overwrite("raw/x", pl.DataFrame({"id": [7, 8]}), commit=COMMIT)
    assert sorted(store.read("raw/x")["id"].to_list()) == [7, 8]
    assert table_config(store, "raw/x").get("delta.appendOnly") != "true"


# --- append-only governance tables --------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(schemas.APPEND_ONLY))
def test_overwrite_of_append_only_table_is_refused(store: DeltaStore, table: str) -> None:
    frame = one_row(schemas.SCHEMAS[table])
    store.append(table, frame, commit=COMMIT)

    with pytest.raises(InputError, match="append-only"):
        store.overwrite(table, frame, commit=COMMIT)

    assert store.version(table) == 0
    assert store.read(table).height == 1


@pytest.mark.parametrize("table", sorted(schemas.APPEND_ONLY))
def test_governance_tables_are_created_with_delta_append_only(store: DeltaStore, table: str) -> None:
    store.append(table, one_row(schemas.SCHEMAS[table]), commit=COMMIT)
    assert table_config(store, table).get("delta.appendOnly") == "true"


def test_governance_table_created_by_append_at_version_is_append_only(store: DeltaStore) -> None:
    store.append_at_version(
        schemas.AUDIT, one_row(schemas.SCHEMAS[schemas.AUDIT]), expected_version=None, commit=COMMIT
    )
    assert table_config(store, schemas.AUDIT).get("delta.appendOnly") == "true"


def test_delta_itself_refuses_deleting_from_a_governance_table(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a", "b"), commit=COMMIT)
    with pytest.raises(CommitFailedError, match="append-only"):
        DeltaTable(str(store.path(schemas.LINEAGE))).delete("dst_id = 'a'")
    assert store.read(schemas.LINEAGE).height == 2


def test_non_governance_table_is_not_append_only_and_can_be_overwritten(store: DeltaStore) -> None:
    store.append(schemas.RUNS, run_row(run_id="old"), commit=COMMIT)
    result = store.overwrite(schemas.RUNS, run_row(run_id="new"), commit=COMMIT)
    assert result.version == 1
    assert store.read(schemas.RUNS)["run_id"].to_list() == ["new"]
    assert table_config(store, schemas.RUNS).get("delta.appendOnly") != "true"


def test_predictions_table_is_partitioned_by_model(store: DeltaStore) -> None:
    store.append(schemas.PREDICTIONS, one_row(schemas.SCHEMAS[schemas.PREDICTIONS]), commit=COMMIT)
    assert DeltaTable(str(store.path(schemas.PREDICTIONS))).metadata().partition_columns == ["model"]


# --- reads --------------------------------------------------------------------------------------


def test_reading_a_declared_table_not_yet_written_gives_an_empty_frame_of_its_schema(store: DeltaStore) -> None:
    frame = store.read(schemas.DRIFT)
    assert frame.height == 0
    assert frame.schema == schemas.SCHEMAS[schemas.DRIFT]
    assert not store.exists(schemas.DRIFT)
    assert store.read(schemas.DRIFT, columns=["feature", "drifted"]).columns == ["feature", "drifted"]


def test_reading_an_unknown_table_is_not_found(store: DeltaStore) -> None:
    with pytest.raises(NotFoundError, match=r"raw/nope"):
        store.read("raw/nope")
    with pytest.raises(NotFoundError, match=r"raw/nope"):
        store.version("raw/nope")


def test_read_at_an_old_version_returns_the_old_rows(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("v0-a", "v0-b"), commit=COMMIT)
    store.append(schemas.LINEAGE, lineage_rows("v1-a"), commit=COMMIT)
    store.append(schemas.LINEAGE, lineage_rows("v2-a"), commit=COMMIT)

    assert sorted(store.read(schemas.LINEAGE, version=0)["dst_id"].to_list()) == ["v0-a", "v0-b"]
    assert sorted(store.read(schemas.LINEAGE, version=1)["dst_id"].to_list()) == ["v0-a", "v0-b", "v1-a"]
    assert store.read(schemas.LINEAGE).height == 4


def test_read_at_a_version_that_does_not_exist_is_not_found(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)
    with pytest.raises(NotFoundError, match="no version 5"):
        store.read(schemas.LINEAGE, version=5)


def test_time_travel_after_overwrite_sees_the_replaced_rows(store: DeltaStore) -> None:
    store.append(schemas.RUNS, run_row(run_id="old"), commit=COMMIT)
    store.overwrite(schemas.RUNS, run_row(run_id="new"), commit=COMMIT)
    assert store.read(schemas.RUNS, version=0)["run_id"].to_list() == ["old"]
    assert store.read(schemas.RUNS)["run_id"].to_list() == ["new"]


def test_a_table_replaced_on_disk_is_read_afresh_by_the_same_store(store: DeltaStore) -> None:
    """A restore (or a tamperer) swapping the table directory must not leave the store on a stale view."""
    store.append("raw/x", pl.DataFrame({"id": [1]}), commit=COMMIT)
    store.append("raw/x", pl.DataFrame({"id": [2]}), commit=COMMIT)
    assert store.version("raw/x") == 1

    shutil.rmtree(store.path("raw/x"))
    write_deltalake(str(store.path("raw/x")), pl.DataFrame({"id": [9]}).to_arrow())

    assert store.version("raw/x") == 0
    assert store.read("raw/x")["id"].to_list() == [9]


# --- compare-and-swap appends -------------------------------------------------------------------


def test_append_at_version_with_none_creates_the_table(store: DeltaStore) -> None:
    result = store.append_at_version(schemas.LINEAGE, lineage_rows("a"), expected_version=None, commit=COMMIT)
    assert result.version == 0
    assert result.rows == 1
    assert result.bytes_written > 0
    assert store.read(schemas.LINEAGE)["dst_id"].to_list() == ["a"]


def test_append_at_version_at_the_current_version_appends(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)
    result = store.append_at_version(schemas.LINEAGE, lineage_rows("b"), expected_version=0, commit=COMMIT)
    assert result.version == 1
    assert result.bytes_written > 0
    assert sorted(store.read(schemas.LINEAGE)["dst_id"].to_list()) == ["a", "b"]


def test_append_at_a_stale_version_is_a_conflict_and_writes_nothing(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)
    store.append(schemas.LINEAGE, lineage_rows("b"), commit=COMMIT)

    with pytest.raises(ConflictError):
        store.append_at_version(schemas.LINEAGE, lineage_rows("late"), expected_version=0, commit=COMMIT)

    assert store.version(schemas.LINEAGE) == 1
    assert "late" not in store.read(schemas.LINEAGE)["dst_id"].to_list()
    assert len(DeltaTable(str(store.path(schemas.LINEAGE))).history()) == 2


def test_append_at_a_version_another_process_moved_past_is_a_conflict(store: DeltaStore, tmp_path: Path) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)
    read_at = store.version(schemas.LINEAGE)
    store.read(schemas.LINEAGE, version=read_at)  # what the writer decided on, read at that version
    other_process = DeltaStore(Storage(tmp_path / "lakehouse"))
    other_process.append(schemas.LINEAGE, lineage_rows("b"), commit=COMMIT)

    with pytest.raises(ConflictError):
        store.append_at_version(schemas.LINEAGE, lineage_rows("late"), expected_version=read_at, commit=COMMIT)

    assert sorted(other_process.read(schemas.LINEAGE)["dst_id"].to_list()) == ["a", "b"]


def test_append_expecting_no_table_on_an_existing_table_is_a_conflict(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)

    with pytest.raises(ConflictError):
        store.append_at_version(schemas.LINEAGE, lineage_rows("late"), expected_version=None, commit=COMMIT)

    assert store.version(schemas.LINEAGE) == 0
    assert store.read(schemas.LINEAGE)["dst_id"].to_list() == ["a"]


def test_append_at_version_validates_the_frame_before_writing(store: DeltaStore) -> None:
    with pytest.raises(InputError, match=r"column 'dst_id' is missing"):
        store.append_at_version(schemas.LINEAGE, lineage_rows("a").drop("dst_id"), expected_version=None, commit=COMMIT)
    assert not store.exists(schemas.LINEAGE)


def test_a_streamed_append_commits_every_part_once_or_nothing(store: DeltaStore) -> None:
    """Parts are written as they come and one commit shows them all; a stream that breaks midway
    leaves the table as it was and raises what broke it; rows already there are not written again."""
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)

    def broken() -> Iterator[pl.DataFrame]:
        yield lineage_rows("b", "c")
        raise InputError("the engine failed on the second part")

    holds_b = lambda table: bool(table.filter(pl.col("dst_id") == "b").select(pl.len()).collect().item())  # noqa: E731
    with pytest.raises(InputError, match="second part"):
        store.append_stream_once(schemas.LINEAGE, broken, commit=COMMIT, present=holds_b)
    assert store.version(schemas.LINEAGE) == 0
    assert store.read(schemas.LINEAGE)["dst_id"].to_list() == ["a"]

    parts = lambda: iter([lineage_rows("b", "c"), lineage_rows("d"), lineage_rows("e", "f", "g")])  # noqa: E731
    written = store.append_stream_once(schemas.LINEAGE, parts, commit=COMMIT, present=holds_b)
    assert written is not None
    assert (written.rows, written.version) == (6, 1)
    assert sorted(store.read(schemas.LINEAGE)["dst_id"].to_list()) == ["a", "b", "c", "d", "e", "f", "g"]
    assert store.append_stream_once(schemas.LINEAGE, parts, commit=COMMIT, present=holds_b) is None
    assert store.version(schemas.LINEAGE) == 1


# --- checkpoints and the log ----------------------------------------------------------------------


def test_every_tenth_version_gets_a_checkpoint_and_no_log_entry_is_deleted(store: DeltaStore) -> None:
    for i in range(CHECKPOINT_EVERY * 2 + 1):
        store.append(schemas.RUNS, run_row(run_id=f"run-{i}"), commit=COMMIT)

    log = store.storage.log_versions(schemas.RUNS)
    assert log.checkpoints == (CHECKPOINT_EVERY, CHECKPOINT_EVERY * 2)
    assert log.commits == tuple(range(CHECKPOINT_EVERY * 2 + 1))
    # a store opening the table afresh starts from the checkpoint and still sees every row
    fresh = DeltaStore(Storage(store.storage.root))
    assert fresh.read(schemas.RUNS).height == CHECKPOINT_EVERY * 2 + 1
    assert fresh.read(schemas.RUNS, version=3).height == 4


def test_compare_and_swap_appends_are_checkpointed_too(store: DeltaStore) -> None:
    version = None
    for i in range(CHECKPOINT_EVERY + 1):
        version = store.append_at_version(
            schemas.LINEAGE, lineage_rows(f"m@{i}"), expected_version=version, commit=COMMIT
        ).version
    assert store.storage.log_versions(schemas.LINEAGE).checkpoints == (CHECKPOINT_EVERY,)
    assert store.read(schemas.LINEAGE).height == CHECKPOINT_EVERY + 1


def test_a_table_whose_first_commit_is_gone_still_exists(store: DeltaStore) -> None:
    for i in range(CHECKPOINT_EVERY + 1):
        store.append("raw/x", pl.DataFrame({"id": [i]}), commit=COMMIT)
    (store.path("raw/x") / "_delta_log" / f"{0:020d}.json").unlink()

    assert store.exists("raw/x")
    assert not store.exists("raw/none")


def test_a_table_deleted_after_it_was_read_reads_as_empty_again(store: DeltaStore) -> None:
    store.append(schemas.LINEAGE, lineage_rows("a"), commit=COMMIT)
    assert store.read(schemas.LINEAGE).height == 1

    shutil.rmtree(store.path(schemas.LINEAGE))

    assert store.read(schemas.LINEAGE).height == 0
    assert not store.exists(schemas.LINEAGE)
