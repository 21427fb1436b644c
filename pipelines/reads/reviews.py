"""The review queue and a request's evidence as the app shows them. Reads only: whether someone may
approve or reject, and whether the alias may move, is decided by `governance.promotion`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from governance.promotion import (
    PRODUCTION_ALIAS,
    PromotionStatus,
    approval_refusal,
    awaits_review_by,
    fold_requests,
    rejection_refusal,
    request_standing,
    withdrawal_refusal,
)
from governance.tasks import Task, margin_text
from lakehouse.records import access_policy, promotion_events
from lakehouse.schemas import UTC_TS
from pipelines.context import Context
from pipelines.reads.promotions import PromotionResult, find_request, judged_review, review_context
from pipelines.reads.task_metrics import metric_display, task_metrics


@dataclass(frozen=True)
class QueuedRequest:
    """One promotion request in the queue; `approvers` are those who approved, counted or not."""

    request_id: str
    model: str
    version: str
    alias: str
    status: PromotionStatus
    requester: str
    requested_at: datetime
    approvers: tuple[str, ...]
    required: int
    break_glass: bool
    counted: tuple[str, ...] = ()  # the approvals that count, as the request's own page counts them
    state: str = ""  # `governance.promotion.RequestState`, as the request's own page shows it

    @property
    def open(self) -> bool:
        return self.status in (PromotionStatus.PENDING, PromotionStatus.BREAK_GLASS)


def review_queue(ctx: Context) -> list[QueuedRequest]:
    """Every promotion request: open ones first, then newest first; each counted and judged as its own
    page judges it (`pipelines.reads.promotions.judged_review`), so the two never disagree."""
    requests = list(fold_requests(promotion_events(ctx.ledger)).values())
    access = access_policy(ctx.ledger)
    queued = []
    for r in requests:
        review = judged_review(ctx, r, access=access)
        standing = request_standing(r, review=review)
        queued.append(
            QueuedRequest(
                request_id=r.request_id,
                model=r.model,
                version=r.version,
                alias=r.alias,
                status=r.status,
                requester=r.requester,
                requested_at=r.requested_at,
                approvers=tuple(dict.fromkeys(r.approvers)),
                required=standing.required,
                break_glass=r.break_glass,
                counted=standing.counted,
                state=standing.state.value,
            )
        )
    queued.sort(key=lambda q: q.requested_at, reverse=True)
    return sorted(queued, key=lambda q: not q.open)


def queue_frame(queue: Sequence[QueuedRequest]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "request_id": q.request_id,
                "model": q.model,
                "version": q.version,
                "alias": q.alias,
                "status": q.state or q.status.value,
                "requester": q.requester,
                "requested_at": q.requested_at,
                "approvals": f"{len(q.counted)}/{q.required}",
                "approved_by": ", ".join(q.counted),
                "break_glass": q.break_glass,
            }
            for q in queue
        ],
        schema={
            "request_id": pl.String,
            "model": pl.String,
            "version": pl.String,
            "alias": pl.String,
            "status": pl.String,
            "requester": pl.String,
            "requested_at": UTC_TS,
            "approvals": pl.String,
            "approved_by": pl.String,
            "break_glass": pl.Boolean,
        },
    )


@dataclass(frozen=True)
class ReviewPermissions:
    """Why the actor may not approve, or reject, the request now (None: they may)."""

    approve_refusal: str | None
    reject_refusal: str | None
    withdraw_refusal: str | None = None
    requester: bool = False  # the actor filed the request


def review_permissions(ctx: Context, *, request_id: str, actor: str) -> ReviewPermissions:
    """What `actor` may do with the request, judged as `approve`, `reject` and `withdraw` would judge it now."""
    request = find_request(ctx, request_id)
    access = access_policy(ctx.ledger)
    review = review_context(ctx, request, access=access, now=ctx.clock())
    return ReviewPermissions(
        approve_refusal=approval_refusal(request, actor=actor, review=review),
        reject_refusal=rejection_refusal(request, actor=actor, review=review),
        withdraw_refusal=withdrawal_refusal(request, actor=actor, access=access),
        requester=request.requester == actor,
    )


def waiting_for(ctx: Context, *, actor: str) -> frozenset[str]:
    """The ids of the open requests `actor` may still approve (`governance.promotion.awaits_review_by`)."""
    access = access_policy(ctx.ledger)
    requests = fold_requests(promotion_events(ctx.ledger)).values()
    return frozenset(r.request_id for r in requests if awaits_review_by(r, actor=actor, access=access))


def request_outcome(result: PromotionResult, *, alias: str) -> str:
    return (
        f"Requested: {result.model} version {result.version} as {alias}. Request {result.request_id} "
        f"awaits {result.required} approval{'s' if result.required != 1 else ''}."
    )


def withdrawal_outcome(result: PromotionResult) -> str:
    return f"Withdrew request {result.request_id}: {result.model} version {result.version} is no longer up for review."


def break_glass_outcome(result: PromotionResult) -> str:
    return (
        f"Break-glass: {result.model} version {result.version} is the champion now. "
        f"Request {result.request_id} stays open for review after the fact."
    )


def approval_outcome(result: PromotionResult, *, alias: str = PRODUCTION_ALIAS) -> str:
    """One line on what an approval did: the alias moved, or why it is still waiting."""
    count = f"{len(result.approvals)}/{result.required} approvals"
    if result.alias_moved:
        return f"Approved ({count}): {result.model} version {result.version} is now the {alias}."
    if result.blocked_by:
        return f"Approved ({count}). The alias has not moved: {'; '.join(result.blocked_by)}."
    return f"Approved ({count}); request {result.request_id} is {result.status.value}."


def rejection_outcome(result: PromotionResult) -> str:
    return f"Rejected request {result.request_id}: {result.model} version {result.version} will not be promoted."


def approvals_frame(approvals: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """The approvals of `show_request`, with their time as a UTC timestamp rather than text."""
    return pl.DataFrame(
        [
            {
                **{k: a[k] for k in ("actor", "reason", "counts")},
                "at": datetime.fromisoformat(a["at"]).astimezone(UTC),
                "expires_at": datetime.fromisoformat(a["expires_at"]).astimezone(UTC) if "expires_at" in a else None,
            }
            for a in approvals
        ],
        schema={"actor": pl.String, "at": UTC_TS, "reason": pl.String, "counts": pl.Boolean, "expires_at": UTC_TS},
    )


SHADOW_SCHEMA = pl.Schema(
    {
        "champion_version": pl.String(),
        "challenger_version": pl.String(),
        "champion_batch": pl.String(),
        "rows": pl.Int64(),
        "disagreement_rate": pl.Float64(),
        "score_ks": pl.Float64(),
        "champion_metric": pl.Float64(),
        "challenger_metric": pl.Float64(),
    }
)


def shadow_frame(comparison: Sequence[Mapping[str, Any]], *, task: Task = Task.BINARY) -> pl.DataFrame:
    """`pipelines.reads.shadow.shadow_comparison` as a table: one row per batch both versions scored,
    with each one's realized headline metric of `task` (ROC AUC, RMSE) once labels arrived. A regression
    decides nothing, so its table has no `disagreement_rate`. Columns: SHADOW_SCHEMA's."""
    metric = task_metrics(task).headline
    rows = [
        {
            **{k: c[k] for k in SHADOW_SCHEMA if k in c},
            "champion_metric": c["champion_realized"].get(metric),
            "challenger_metric": c["challenger_realized"].get(metric),
        }
        for c in comparison
    ]
    frame = pl.DataFrame(rows, schema=SHADOW_SCHEMA)
    return frame.drop("disagreement_rate") if task is Task.REGRESSION else frame


def evidence_task(evidence: Mapping[str, Any] | None) -> Task:
    """The candidate's task (evidence attached before tasks existed is a binary model's; a request
    without evidence is shown as one too)."""
    candidate = (evidence or {}).get("candidate") or {}
    return Task(candidate.get("task", Task.BINARY.value))


def metrics_comparison(evidence: Mapping[str, Any], *, gates: Sequence[Mapping[str, Any]] = ()) -> pl.DataFrame:
    """The candidate's and the champion's metrics on the same holdout, one row per metric, the gated
    metric first and then in the task's order.

    `gates` are the policy's gate results (`show_request(...)["policy"]["gates"]`); the gate
    column says which metric gates the promotion and whether it passed. `label` names the metric as
    the task does, `better` says which way is better ("higher", "lower"; empty for a metric that
    describes the data) and `change` whether the candidate is "better", "worse" or the "same".
    """
    candidate: Mapping[str, float] = evidence["candidate"]["metrics"]
    champion: Mapping[str, float] = (evidence.get("champion") or {}).get("metrics") or {}
    verdicts = {g["metric"]: g for g in gates}
    shown = task_metrics(evidence_task(evidence))
    rows = []
    for name in shown.ordered(candidate):
        gate = verdicts.get(name)
        display = shown.display(name)
        difference = candidate[name] - champion[name] if name in champion else None
        rows.append(
            {
                "metric": name,
                "candidate": candidate[name],
                "champion": champion.get(name),
                "difference": difference,
                "gate": "" if gate is None else ("passed" if gate["passed"] else "FAILED"),
                "label": display.label,
                "better": {True: "higher", False: "lower", None: ""}[display.higher_is_better],
                "change": _change(difference, higher_is_better=display.higher_is_better),
            }
        )
    schema = {
        "metric": pl.String,
        "candidate": pl.Float64,
        "champion": pl.Float64,
        "difference": pl.Float64,
        "gate": pl.String,
        "label": pl.String,
        "better": pl.String,
        "change": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def _change(difference: float | None, *, higher_is_better: bool | None) -> str:
    if difference is None or higher_is_better is None:
        return ""
    if difference == 0:
        return "same"
    return "better" if (difference > 0) == higher_is_better else "worse"


def gate_text(gate: Mapping[str, Any], *, task: Task) -> str:
    """One gate of the policy verdict as a reviewer reads it: the metric, its direction, the verdict,
    both values and how much worse the candidate may be (a share of the champion's value where the
    margin is relative, as a regression's RMSE is)."""
    shown = metric_display(gate["metric"], task=task)
    higher = gate.get("higher_is_better", True)
    margin = margin_text(gate["max_drop"], relative=gate.get("relative", False))
    if gate.get("relative", False):
        allowed = f"may be at most {margin} {'lower' if higher else 'higher'} than the champion's"
    else:
        allowed = f"may {'drop' if higher else 'rise'} at most {margin}"
    verdict = "passed" if gate["passed"] else "FAILED"
    direction = "higher is better" if higher else "lower is better"
    return (
        f"Gate {shown.label} ({direction}): {verdict} "
        f"(candidate {gate['candidate']:.4f}, champion {gate['champion']:.4f}, {allowed})"
    )


def drift_features(drift: Mapping[str, Any]) -> pl.DataFrame:
    """Per-feature drift of the latest scored batch against the candidate's training data."""
    schema = {
        "feature": pl.String,
        "method": pl.String,
        "statistic": pl.Float64,
        "threshold": pl.Float64,
        "drifted": pl.Boolean,
    }
    rows = [{**{k: f[k] for k in schema}, "method": _short(f["method"])} for f in drift.get("features", [])]
    return pl.DataFrame(rows, schema=schema).sort("drifted", "feature", descending=[True, False])


def quality_table(quality: Mapping[str, Any]) -> pl.DataFrame:
    """Per feature of the training data: share missing and whether it holds a single value."""
    constant = set(quality.get("constant_features", []))
    missing: Mapping[str, float] = quality.get("missing_share", {})
    return pl.DataFrame(
        [{"feature": f, "missing_share": share, "constant": f in constant} for f, share in missing.items()],
        schema={"feature": pl.String, "missing_share": pl.Float64, "constant": pl.Boolean},
    )


def model_card_table(card: Mapping[str, Any]) -> pl.DataFrame:
    """The model card as field/value text rows (limitations are listed separately)."""
    features = card.get("features") or {}
    training = card.get("training_data") or {}
    span = training.get("span") or {}
    rows = [
        ("purpose", card.get("purpose", "")),
        ("owner", card.get("owner", "")),
        ("algorithm", card.get("algorithm", "")),
        ("target", card.get("target", "")),
        ("numeric features", ", ".join(features.get("numeric", []))),
        ("categorical features", ", ".join(features.get("categorical", []))),
        ("training data", f"{training.get('table', '')} ({training.get('rows', '?')} rows)"),
        ("training span", f"{_day(span['from'])} to {_day(span['to'])}" if span else "(no event time)"),
    ]
    return pl.DataFrame(
        [{"field": k, "value": str(v)} for k, v in rows], schema={"field": pl.String, "value": pl.String}
    )


def _day(stamp: str) -> str:
    """A timestamp written as text in the evidence, shortened to its UTC date when it parses."""
    try:
        return f"{datetime.fromisoformat(stamp).astimezone(UTC):%Y-%m-%d}"
    except ValueError:
        return stamp


def _short(method: str) -> str:
    """A drift test's name without the words every name has: "Wasserstein (normed)", "Jensen-Shannon"."""
    return " ".join(word for word in method.split() if word not in ("distance", "test")) or method
