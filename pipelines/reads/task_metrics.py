"""How each task's metrics are shown on every page: which metric a page leads with, which it draws by
default, in what order, with what name, direction and scale, and what the model outputs. Decided here
once, so no view names a metric. The headline is the metric the retraining policy watches
(`governance.tasks.health_metric`), the gate the one promotion compares (`governance.tasks.gate_metric`);
what each task computes is `pipelines.ml.tasks`'s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from governance.tasks import RMSE, ROC_AUC, Task, TaskMetric, gate_metric, health_metric


class MetricScale(StrEnum):
    SHARE = "share"  # 0 to 1: metrics on this scale may share a 0-1 axis
    TARGET = "target"  # in the target's own units (an error, a mean): its range is the data's
    OTHER = "other"  # unbounded or signed (log loss, R², MAPE): an axis of its own


@dataclass(frozen=True)
class MetricDisplay:
    """How one metric is shown: its key in metric maps, its name for people, its direction (None: it
    describes the data, neither better nor worse), its scale, and whether it reads as a percentage."""

    name: str
    label: str
    higher_is_better: bool | None
    scale: MetricScale
    percent: bool = False

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return "describes the data, neither better nor worse"
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def heading(self) -> str:
        """The label with its direction: "RMSE (lower is better)"."""
        return self.label if self.higher_is_better is None else f"{self.label} ({self.direction})"

    @property
    def axis(self) -> str:
        """The axis a chart draws it on: metrics with the same axis may share it."""
        match self.scale:
            case MetricScale.SHARE:
                return "0 to 1"
            case MetricScale.TARGET:
                return "in the target's units"
            case MetricScale.OTHER:
                return self.label

    def format(self, value: float | None) -> str:
        """The value as a page shows it in text: "0.812", "2.86", "1,234.5", "2.4%"; "–" when absent."""
        if value is None:
            return "–"
        if self.percent:
            return f"{value:.1%}"
        if self.scale is MetricScale.SHARE or abs(value) < 100:
            return f"{value:.3f}"
        return f"{value:,.1f}"


def _judged(metric: TaskMetric, scale: MetricScale) -> MetricDisplay:
    """A metric the policy judges by, named and directed as `governance.tasks` names it."""
    return MetricDisplay(metric.name, metric.label, metric.higher_is_better, scale)


_SHARE, _TARGET, _OTHER = MetricScale.SHARE, MetricScale.TARGET, MetricScale.OTHER
_DISPLAYS = {
    d.name: d
    for d in (
        _judged(ROC_AUC, _SHARE),
        MetricDisplay("accuracy", "accuracy", True, _SHARE),
        MetricDisplay("precision", "precision", True, _SHARE),
        MetricDisplay("recall", "recall", True, _SHARE),
        MetricDisplay("f1", "F1", True, _SHARE),
        MetricDisplay("brier", "Brier score", False, _SHARE),
        MetricDisplay("log_loss", "log loss", False, _OTHER),
        MetricDisplay("positive_rate", "positive rate", None, _SHARE),
        MetricDisplay("mean_score", "mean score", None, _SHARE),
        _judged(RMSE, _TARGET),
        MetricDisplay("mae", "MAE", False, _TARGET),
        MetricDisplay("mape", "MAPE", False, _OTHER, percent=True),
        MetricDisplay("r2", "R²", True, _OTHER),
        MetricDisplay("mean_target", "mean target", None, _TARGET),
        MetricDisplay("mean_prediction", "mean prediction", None, _TARGET),
    )
}
# Where a task names a metric its own way: a multiclass ROC AUC and F1 are macro averages.
_TASK_LABELS = {
    Task.MULTICLASS: {"roc_auc": health_metric(Task.MULTICLASS).label, "f1": "F1 (macro)"},
}
_CLASS_RECALL = "recall:"  # multiclass recall of one class: recall:<class>


def metric_display(name: str, *, task: Task | None = None) -> MetricDisplay:
    """How metric `name` is shown for a model of `task` (None: a model whose task is not recorded)."""
    if name.startswith(_CLASS_RECALL):
        return MetricDisplay(name, f"recall of {name.removeprefix(_CLASS_RECALL)}", True, _SHARE)
    found = _DISPLAYS.get(name, MetricDisplay(name, name, None, _OTHER))
    label = _TASK_LABELS.get(task, {}).get(name) if task is not None else None
    return found if label is None else MetricDisplay(name, label, found.higher_is_better, found.scale, found.percent)


@dataclass(frozen=True)
class ModelOutput:
    """One output column of the predictions table (`pipelines.ml.tasks.PREDICTION_SCHEMA`) as pages show it."""

    column: str
    label: str  # "score", "predicted class", "prediction"
    numeric: bool  # drawn as a histogram; otherwise one bar per value

    @property
    def heading(self) -> str:
        """What the Drift page calls its distribution: "score distribution"."""
        return f"{self.label} distribution"


@dataclass(frozen=True)
class TaskMetrics:
    """The metrics of one task as the pages show them."""

    task: Task
    headline: str  # the metric a page leads with: the one retraining watches
    gate: str  # the metric a candidate is compared on against the champion
    defaults: tuple[str, ...]  # drawn on the Performance page until someone picks others
    order: tuple[str, ...]  # the order tables list metrics in; others (per-class recall, ...) follow by name
    output: str  # what the model outputs per row, as shadow's K-S distance compares it
    estimator: str  # how performance is estimated before labels arrive
    drifting: ModelOutput  # the output whose distribution the Drift page compares between batches

    def display(self, name: str) -> MetricDisplay:
        return metric_display(name, task=self.task)

    @property
    def headline_display(self) -> MetricDisplay:
        return self.display(self.headline)

    def ordered(self, names: Iterable[str]) -> list[str]:
        """`names` with the gate first, then in the task's order, then by name."""
        return order_metrics(names, task=self.task)

    def comparable(self, names: Iterable[str]) -> list[str]:
        """Those of `names` that may share one axis with the headline (same scale, same direction), in order:
        a side-by-side bar chart draws these."""
        lead = self.headline_display
        return [
            n
            for n in self.ordered(names)
            if (shown := self.display(n)).axis == lead.axis and shown.higher_is_better == lead.higher_is_better
        ]

    @property
    def summary(self) -> str:
        """The task in one sentence, as every page states it: what it is gated and watched on, and how it
        is estimated before labels arrive."""
        gate, lead = self.display(self.gate), self.headline_display
        watched = "" if lead.name == gate.name else f", watched on {lead.heading}"
        return (
            f"A {self.task.value} model: compared with the champion on {gate.heading}{watched}; "
            f"estimated before its labels arrive by {self.estimator}."
        )

    def directions(self, names: Iterable[str]) -> str:
        """Which of `names` are better high and which low, as a sentence: "Lower is better: RMSE, MAE."
        (empty when none of them has a direction)."""
        shown = [self.display(n) for n in self.ordered(names)]
        parts = [
            f"{word} is better: {', '.join(d.label for d in shown if d.higher_is_better is better)}"
            for word, better in (("higher", True), ("lower", False))
            if any(d.higher_is_better is better for d in shown)
        ]
        sentence = "; ".join(parts)
        return f"{sentence[:1].upper()}{sentence[1:]}." if sentence else ""


_ORDER = {
    Task.BINARY: (
        "roc_auc",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "brier",
        "log_loss",
        "positive_rate",
        "mean_score",
    ),
    Task.MULTICLASS: ("roc_auc", "accuracy", "f1"),
    Task.REGRESSION: ("rmse", "mae", "mape", "r2", "mean_target", "mean_prediction"),
}
_DEFAULTS = {
    Task.BINARY: ("roc_auc", "accuracy", "f1"),
    Task.MULTICLASS: ("roc_auc", "accuracy", "f1"),
    Task.REGRESSION: ("rmse", "mae"),  # both in the target's units: one axis
}
_OUTPUT = {Task.BINARY: "score", Task.MULTICLASS: "top-class probability", Task.REGRESSION: "prediction"}
_DRIFTING = {
    Task.BINARY: ModelOutput("score", "score", numeric=True),
    Task.MULTICLASS: ModelOutput("predicted_class", "predicted class", numeric=False),
    Task.REGRESSION: ModelOutput("prediction", "prediction", numeric=True),
}
_ESTIMATOR = {
    Task.BINARY: "confidence-based performance estimation (CBPE)",
    Task.MULTICLASS: "multiclass confidence-based performance estimation (CBPE)",
    Task.REGRESSION: "direct loss estimation (DLE)",
}


def task_metrics(task: Task) -> TaskMetrics:
    """How the metrics and outputs of a `task` model are shown."""
    return TaskMetrics(
        task=task,
        headline=health_metric(task).name,
        gate=gate_metric(task).name,
        defaults=_DEFAULTS[task],
        order=_ORDER[task],
        output=_OUTPUT[task],
        estimator=_ESTIMATOR[task],
        drifting=_DRIFTING[task],
    )


def order_metrics(names: Iterable[str], *, task: Task | None) -> list[str]:
    """`names` in the order pages list them: the task's gate metric and then its order (every task's
    order, gates first, when the task is not recorded); per-class recall and unknown metrics by name."""
    tasks = [task] if task is not None else list(Task)
    known = list(dict.fromkeys([*(gate_metric(t).name for t in tasks), *(m for t in tasks for m in _ORDER[t])]))
    rank = {name: i for i, name in enumerate(known)}
    return sorted(dict.fromkeys(names), key=lambda n: (rank.get(n, len(rank)), n))
