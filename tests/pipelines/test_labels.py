"""Labels as they arrive and as they are corrected: a reload adds nothing, a correction supersedes the
label before it (history kept, also when both loads are stamped the same instant), and keys the
model never scored are reported."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from lakehouse.schemas import LABELS
from pipelines.jobs.labels import LabelsResult, load_labels
from pipelines.reads.labels import latest_labels
from tests.cli_harness import Cli
from tests.conftest import MAKER, START, FixedClock, Seeded, context_for

MODEL = "loan_default"
DAY = timedelta(days=1)


def _labels_file(seeded: Seeded, folder: Path, name: str, frame: pl.DataFrame) -> Path:
    path = folder / name
    frame.rename({"entity_key": seeded.dataset.key, "label": seeded.dataset.target}).write_csv(path)
    return path


def _load(seeded: Seeded, path: Path, *, clock: FixedClock) -> LabelsResult:
    ctx = context_for(seeded.home, clock=clock)
    return load_labels(ctx, model=MODEL, path=path, key=seeded.dataset.key, label=seeded.dataset.target, actor=MAKER)


def _week0_labels(seeded: Seeded) -> pl.DataFrame:
    """Week 0's ground truth, as the seeded lakehouse loaded it (at START)."""
    week0 = seeded.dataset.weeks[0]
    return week0.select(entity_key=pl.col(seeded.dataset.key), label=pl.col(seeded.dataset.target))


def _flipped(labels: pl.DataFrame, n: int) -> pl.DataFrame:
    return labels.head(n).with_columns(label=1 - pl.col("label"))


def _latest(seeded: Seeded) -> dict[str, int]:
    frame = latest_labels(context_for(seeded.home), MODEL)
    return dict(zip(frame["entity_key"], frame["label"], strict=True))


# ---- loading -------------------------------------------------------------------------------------


def test_reloading_the_same_labels_adds_nothing(seeded: Seeded) -> None:
    cli, store = Cli(seeded.home), context_for(seeded.home).store
    version, rows = store.version(LABELS), store.read(LABELS).height
    args = ("labels", MODEL, str(seeded.files / "labels0.csv"), "--key", "loan_id", "--label", "defaulted")

    again = cli.json(*args, "--actor", MAKER)

    assert again == {"model": MODEL, "rows": 0, "unchanged": rows, "unknown_keys": 0}
    assert (store.version(LABELS), store.read(LABELS).height) == (version, rows)
    line = cli(*args, "--actor", MAKER).stdout.strip()
    assert line == f"0 labels loaded for {MODEL} ({rows} already known)"


def test_a_correction_supersedes_the_label_before_it_even_at_the_same_instant(seeded: Seeded, tmp_path: Path) -> None:
    original = _week0_labels(seeded)
    corrected = _flipped(original, 5)
    path = _labels_file(seeded, tmp_path, "corrected.csv", corrected)
    same_instant = FixedClock(START)  # the seeded load of week 0 was stamped START too

    result = _load(seeded, path, clock=same_instant)

    assert (result.rows, result.unchanged, result.unknown_keys) == (5, 0, 0)
    latest = _latest(seeded)
    for key, label in corrected.iter_rows():
        assert latest[key] == label
    assert latest[original["entity_key"][5]] == original["label"][5]  # untouched keys keep theirs
    history = context_for(seeded.home).store.read(LABELS)
    assert history.height == original.height + 5  # the superseded labels stay, as history
    assert history.filter(pl.col("entity_key") == corrected["entity_key"][0]).height == 2

    # the corrected file again adds nothing; correcting back wins again, still at the same instant
    assert _load(seeded, path, clock=same_instant).rows == 0
    back = _labels_file(seeded, tmp_path, "back.csv", original.head(5))
    assert _load(seeded, back, clock=same_instant).rows == 5
    latest = _latest(seeded)
    for key, label in original.head(5).iter_rows():
        assert latest[key] == label


def test_labels_of_keys_never_scored_are_counted_and_reported(seeded: Seeded, tmp_path: Path) -> None:
    # week 7 was scored and its labels have not arrived: 37 of them, and 3 keys no batch scored
    week7 = seeded.dataset.weeks[7].select(entity_key=pl.col("loan_id"), label=pl.col("defaulted")).head(37)
    ghosts = pl.DataFrame({"entity_key": ["X-1", "X-2", "X-3"], "label": [0, 1, 0]})
    path = _labels_file(seeded, tmp_path, "outcomes.csv", pl.concat([week7, ghosts]))
    args = ("labels", MODEL, str(path), "--key", "loan_id", "--label", "defaulted", "--actor", MAKER)

    cli = Cli(seeded.home)
    line = cli(*args).stdout.strip()

    assert line == f"40 labels loaded for {MODEL} (3 keys were never scored by it)"
    again = cli.json(*args)
    assert again == {"model": MODEL, "rows": 0, "unchanged": 40, "unknown_keys": 3}
