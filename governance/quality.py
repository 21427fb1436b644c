"""Data-quality checks of a scored batch against its model's training data: what each check
measures, the threshold each is held to and where that threshold comes from, and when it raises an
alert. Pure: the measured values and the reference's chunk statistics are passed in.

A threshold comes, first match wins, from
1. the model's policy: a fixed maximum an admin set for this check and column;
2. the reference's own variability (missing share, out-of-range share): the training table is cut
   into chunks in event-time order and the limit is the chunks' mean + 3 standard deviations of the
   metric, clipped to 0..1, as NannyML derives its thresholds (the out-of-range limit is at least one
   row in a chunk);
3. the defaults: any unseen category alerts (as NannyML and Evidently flag any new category), any
   duplicated key alerts, the dtype must match the training dtype."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from governance.errors import InputError

SIGMAS = 3.0  # a reference chunk's metric beyond mean + 3 sd is unusual


class QualityCheck(StrEnum):
    SCHEMA = "schema_match"  # 1.0 when the column has the training dtype, else 0.0
    MISSING = "missing_share_increase"  # share missing now minus share missing in training
    OUT_OF_RANGE = "out_of_training_range"  # share of numbers below the training min or above its max
    UNSEEN = "unseen_categories"  # share of values of a category never seen in training
    DUPLICATE_KEYS = "duplicate_keys"  # rows sharing an entity key with another row of the batch


# the checks a policy may fix a maximum for, by the names the CLI accepts
SETTABLE: Mapping[str, QualityCheck] = {
    "missing_share": QualityCheck.MISSING,
    QualityCheck.MISSING.value: QualityCheck.MISSING,
    "out_of_range": QualityCheck.OUT_OF_RANGE,
    QualityCheck.OUT_OF_RANGE.value: QualityCheck.OUT_OF_RANGE,
    "unseen": QualityCheck.UNSEEN,
    QualityCheck.UNSEEN.value: QualityCheck.UNSEEN,
}
DERIVED_CHECKS = frozenset({QualityCheck.MISSING, QualityCheck.OUT_OF_RANGE})
POLICY_PREFIX = "quality:"  # a model policy setting "quality:<check>:<column>" holds a fixed maximum


class ThresholdOrigin(StrEnum):
    DEFAULT = "default"
    DERIVED = "derived"
    POLICY = "policy"


@dataclass(frozen=True)
class Threshold:
    """The limit a check is held to, where it comes from, and that origin in words."""

    limit: float
    origin: ThresholdOrigin
    note: str


@dataclass(frozen=True)
class QualityThresholds:
    """The defaults, used where neither a policy nor the reference's chunks set a threshold."""

    missing_increase: float = 0.10
    out_of_range: float = 0.05
    unseen: float = 0.0
    duplicate_keys: float = 0.0

    def threshold(self, check: QualityCheck) -> float:
        return {
            QualityCheck.SCHEMA: 1.0,
            QualityCheck.MISSING: self.missing_increase,
            QualityCheck.OUT_OF_RANGE: self.out_of_range,
            QualityCheck.UNSEEN: self.unseen,
            QualityCheck.DUPLICATE_KEYS: self.duplicate_keys,
        }[check]

    def default(self, check: QualityCheck) -> Threshold:
        limit = self.threshold(check)
        notes = {
            QualityCheck.SCHEMA: "default: the training dtype",
            QualityCheck.UNSEEN: "default: any unseen category" if limit == 0 else f"default: at most {limit:.3g}",
            QualityCheck.DUPLICATE_KEYS: "default: no duplicated key" if limit == 0 else f"default: at most {limit:g}",
        }
        return Threshold(limit, ThresholdOrigin.DEFAULT, notes.get(check, f"default: at most {limit:.3g}"))


@dataclass(frozen=True)
class ChunkStats:
    """A metric over the reference's chunks: how many chunks of about how many rows, its mean and
    standard deviation, and the metric's value over the whole reference (missing share's baseline)."""

    chunks: int
    chunk_rows: int
    mean: float
    sd: float
    baseline: float = 0.0


def derived_threshold(check: QualityCheck, stats: ChunkStats) -> Threshold:
    """mean + 3 sd of the metric over the reference's chunks, clipped to 0..1 (out of range: at least
    one row in a chunk); for the missing share, whose check measures the increase over training, the
    limit is that bound minus the training share."""
    upper = round(min(1.0, max(0.0, stats.mean + SIGMAS * stats.sd)), 12)  # rounded: no float noise as a limit
    metric = "missing share" if check is QualityCheck.MISSING else "out-of-range share"
    note = (
        f"derived from {stats.chunks} reference chunks of ~{stats.chunk_rows} rows: "
        f"{metric} mean {stats.mean:.3g} + 3 sd ({stats.sd:.3g}) = {upper:.3g}"
    )
    one_row = round(1 / max(stats.chunk_rows, 1), 12)
    if check is QualityCheck.OUT_OF_RANGE and upper < one_row:
        # chunks that never leave each other's range say nothing below one row in a chunk: a count
        # column one unit past its training maximum in one row of a thousand is not an alert
        upper = one_row
        note += f", raised to one row in a chunk ({one_row:.3g})"
    if check is not QualityCheck.MISSING:
        return Threshold(upper, ThresholdOrigin.DERIVED, note)
    limit = round(max(0.0, upper - stats.baseline), 12)
    return Threshold(limit, ThresholdOrigin.DERIVED, f"{note}, i.e. +{limit:.3g} over training's {stats.baseline:.3g}")


@dataclass(frozen=True)
class QualityLimits:
    """Every threshold of a model version's checks: fixed by policy, derived from the reference's
    chunks, or the defaults, in that order."""

    defaults: QualityThresholds = QualityThresholds()
    derived: Mapping[tuple[QualityCheck, str], ChunkStats] = field(default_factory=dict)
    fixed: Mapping[tuple[QualityCheck, str], float] = field(default_factory=dict)

    def threshold(self, check: QualityCheck, column: str) -> Threshold:
        if (check, column) in self.fixed:
            limit = self.fixed[check, column]
            return Threshold(limit, ThresholdOrigin.POLICY, f"fixed by policy: at most {limit:.3g}")
        if check in DERIVED_CHECKS and (check, column) in self.derived:
            return derived_threshold(check, self.derived[check, column])
        return self.defaults.default(check)


@dataclass(frozen=True)
class QualityResult:
    check: QualityCheck
    column: str
    value: float
    threshold: float
    passed: bool
    origin: str = ""  # where the threshold comes from, in words


def judge_quality(
    check: QualityCheck, *, column: str, value: float, thresholds: QualityThresholds | QualityLimits
) -> QualityResult:
    """A check passes while its value stays within its threshold (schema: must match exactly)."""
    limits = thresholds if isinstance(thresholds, QualityLimits) else QualityLimits(defaults=thresholds)
    threshold = limits.threshold(check, column)
    passed = value >= threshold.limit if check is QualityCheck.SCHEMA else value <= threshold.limit
    return QualityResult(
        check=check, column=column, value=value, threshold=threshold.limit, passed=passed, origin=threshold.note
    )


@dataclass(frozen=True)
class FixedQualityLimit:
    check: QualityCheck
    column: str
    limit: float

    @property
    def setting(self) -> str:
        return f"{POLICY_PREFIX}{self.check.value}:{self.column}"


def parse_quality_limit(text: str, *, columns: frozenset[str]) -> FixedQualityLimit:
    """`CHECK:COLUMN=MAX` (e.g. `missing_share:income=0.2`) into a fixed limit, or one clear error."""
    spec, sep, raw = text.partition("=")
    name, colon, column = spec.strip().partition(":")
    if not sep or not colon or not column.strip():
        raise InputError(f"--quality {text!r}: expected CHECK:COLUMN=MAX, e.g. missing_share:income=0.2")
    if name.strip() not in SETTABLE:
        raise InputError(
            f"--quality {text!r}: unknown check {name.strip()!r}; expected one of missing_share, out_of_range, unseen"
        )
    column = column.strip()
    if column not in columns:
        raise InputError(f"--quality {text!r}: unknown column {column!r}; the model's columns are {sorted(columns)}")
    try:
        limit = float(raw)
    except ValueError:
        raise InputError(f"--quality {text!r}: MAX {raw.strip()!r} is not a number from 0 to 1") from None
    if not 0.0 <= limit <= 1.0:
        raise InputError(f"--quality {text!r}: MAX {limit:g} is outside 0..1 (a share of rows)")
    return FixedQualityLimit(SETTABLE[name.strip()], column, limit)


def fixed_quality_limits(settings: Mapping[str, str]) -> dict[tuple[QualityCheck, str], float]:
    """The fixed limits among a model's policy settings."""
    fixed: dict[tuple[QualityCheck, str], float] = {}
    for setting, value in settings.items():
        if setting.startswith(POLICY_PREFIX):
            check, _, column = setting.removeprefix(POLICY_PREFIX).partition(":")
            fixed[QualityCheck(check), column] = float(value)
    return fixed
