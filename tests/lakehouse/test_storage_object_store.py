"""Storage on an object-store root: listing tables, reading the log and finding data files through
delta-rs's object store, against an S3-compatible server on 127.0.0.1 (moto)."""

from __future__ import annotations

import uuid

import polars as pl
import pyarrow as pa
import pytest

from governance.errors import InputError, MlgovError
from lakehouse import delta
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.storage import CHECKPOINT_EVERY, Storage
from tests.servers import S3Server

COMMIT = CommitInfo(run_id="run-1", job="test", actor="ada")


@pytest.fixture
def storage(s3: S3Server) -> Storage:
    bucket = s3.create_bucket(f"storage-{uuid.uuid4().hex[:12]}")
    return Storage(f"s3://{bucket}/lake/", options=s3.env())


def test_tables_their_logs_and_their_files_are_found_in_the_bucket(storage: Storage) -> None:
    storage.probe()
    for table in ("raw/loans", "raw/applications", "predictions"):
        storage.write(table, pa.table({"x": [1, 2]}))
    storage.write("raw/loans", pa.table({"x": [3]}), mode="append")

    assert storage.root.endswith("/lake")
    assert storage.uri("raw/loans") == f"{storage.root}/raw/loans"
    assert storage.tables_under("raw") == ["raw/applications", "raw/loans"]
    assert storage.all_tables() == ["predictions", "raw/applications", "raw/loans"]
    assert storage.holds_anything()
    assert storage.log_versions("raw/loans").commits == (0, 1)
    assert storage.has_commit("raw/loans", 1)
    assert not storage.has_commit("raw/loans", 2)
    assert storage.creation_stamp("raw/loans") is not None
    assert storage.creation_stamp("raw/none") is None
    assert any("commitInfo" in action for action in storage.commit_actions("raw/loans", 1))

    listed = [storage.data_file("raw/loans", path) for path in storage.open("raw/loans").file_uris()]
    on_disk = {f.location for f in storage.files_on_disk("raw/loans")}
    assert set(listed) == on_disk
    assert all(storage.is_file(location) for location in listed)
    assert not storage.is_file(f"{storage.root}/raw/loans/nothing.parquet")
    frame = storage.read_parquet(sorted(on_disk), columns=["x"], location_column="file")
    assert sorted(frame["x"].to_list()) == [1, 2, 3]
    assert set(frame["file"]) == on_disk
    with pytest.raises(MlgovError, match="not on local disk"):
        storage.local_path("raw/loans")


def test_a_bucket_that_does_not_exist_is_one_clear_line(s3: S3Server) -> None:
    storage = Storage("s3://no-such-bucket-here/lake", options=s3.env())
    with pytest.raises(InputError, match=r"s3://no-such-bucket-here/lake.*NoSuchBucket"):
        storage.probe()


def test_checkpoints_and_existence_on_an_object_store(storage: Storage) -> None:
    storage.write("raw/loans", pa.table({"x": [0]}))
    for i in range(1, CHECKPOINT_EVERY + 1):
        storage.write(storage.open("raw/loans"), pa.table({"x": [i]}), mode="append")
        storage.checkpoint_if_due(storage.open("raw/loans"))

    assert storage.log_versions("raw/loans").checkpoints == (CHECKPOINT_EVERY,)
    assert storage.exists("raw/loans")
    assert not storage.exists("raw/none")
    assert storage.open("raw/loans", version=3).to_pyarrow_table().num_rows == 4
    assert storage.open("raw/loans").to_pyarrow_table().num_rows == CHECKPOINT_EVERY + 1


def test_a_store_on_an_object_store_reads_a_table_written_anew_once_its_look_is_stale(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.create_bucket(f"storage-{uuid.uuid4().hex[:12]}")
    store = DeltaStore(Storage(f"s3://{bucket}/lake", options=s3.env()))
    other = DeltaStore(Storage(f"s3://{bucket}/lake", options=s3.env()))
    store.append("raw/x", pl.DataFrame({"id": [1]}), commit=COMMIT)
    assert store.read("raw/x")["id"].to_list() == [1]

    other.append("raw/x", pl.DataFrame({"id": [2]}), commit=COMMIT)
    assert sorted(store.read("raw/x")["id"].to_list()) == [1, 2]  # a new commit is seen at once

    client = s3.client()
    for key in s3.keys(bucket, "lake/raw/x/"):
        client.delete_object(Bucket=bucket, Key=key)
    other.append("raw/x", pl.DataFrame({"id": [9]}), commit=COMMIT)
    monkeypatch.setattr(delta, "_STAMP_FRESH_SECONDS", 0.0)  # as once the last look has aged

    assert store.version("raw/x") == 0
    assert store.read("raw/x")["id"].to_list() == [9]
