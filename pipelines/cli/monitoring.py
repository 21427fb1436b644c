"""mlgov monitor and mlgov shadow: drift, quality, performance and champion vs challenger per batch."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from governance.errors import InputError
from pipelines.cli.support import emit, engine_option, json_option, load_context


@click.command()
@click.argument("model")
@click.option("--actor", help="Who runs it (default: the mlgov-monitor service identity).")
@click.option(
    "--retrain", is_flag=True, help="If the retraining policy fires, retrain and open a request (needs --actor)."
)
@engine_option
@json_option
def monitor(model: str, actor: str | None, retrain: bool, engine: str | None, as_json: bool) -> None:
    """Compute missing drift, quality and performance for MODEL's batches, then report them."""
    from governance.tasks import Task, health_metric
    from pipelines.jobs.engines import open_engine
    from pipelines.jobs.monitor import monitor as run_monitor
    from pipelines.reads.segments import segment_documents

    if retrain and actor is None:
        raise InputError("--retrain needs --actor: the user the new version is trained and requested by")
    ctx = load_context()
    report = run_monitor(ctx, model=model, actor=actor, retrain=retrain, engine=open_engine(ctx, engine))
    sliced = segment_documents(ctx, model)
    trigger = report.trigger
    document = {
        "model": report.model,
        "task": report.task,
        "batches": [
            {
                "batch_id": b.batch_id,
                "start": b.start.isoformat() if b.start else None,
                "end": b.end.isoformat() if b.end else None,
                "rows": b.rows,
                "model_version": b.model_version,
                "drift": [asdict(d) for d in b.drift],
                "drift_share": b.drift_share,
                "drifted": b.drifted,
                "labelled_rows": b.labelled_rows,
                "performance": dict(b.performance),
                "estimated_performance": dict(b.estimated),
                "quality_alerts": [{**asdict(q), "check": q.check.value} for q in b.quality_alerts],
                "output_drift": None
                if b.output_drift is None
                else {"output": b.output_drift.feature, **asdict(b.output_drift)},
                **sliced.get(b.batch_id, {"segments": [], "segment_findings": [], "fairness": []}),
            }
            for b in report.batches
        ],
        "retraining": {
            "triggered": trigger is not None,
            "kind": trigger.kind.value if trigger else None,
            "reason": trigger.reason if trigger else None,
            "batch_ids": list(trigger.batch_ids) if trigger else [],
            "retrained": asdict(report.retrained) if report.retrained else None,
        },
        "alerts": report.alerts.document(),
    }
    lines = [f"{model}: {len(report.batches)} batches ({report.computed_drift} newly checked for drift)"]
    metric = health_metric(Task(report.task or Task.BINARY))
    for b in report.batches:
        realized, estimate = b.performance.get(metric.name), b.estimated.get(metric.name)
        perf = f", {metric.label} {realized:.3f} on {b.labelled_rows} labels" if realized is not None else ""
        perf += f", estimated {metric.label} {estimate:.3f}" if estimate is not None else ""
        flag = " DRIFTED" if b.drifted else ""
        flag += f", {b.output_drift.feature} drifted" if b.output_drift and b.output_drift.drifted else ""
        alerts = f", {len(b.quality_alerts)} quality alerts" if b.quality_alerts else ""
        alerts += _segment_summary(sliced.get(b.batch_id, {}))
        lines.append(
            f"  {b.batch_id} v{b.model_version} {b.rows} rows: drift share {b.drift_share:.2f}{flag}{perf}{alerts}"
        )
    lines.append(f"retraining: {trigger.reason}" if trigger else "retraining: not needed")
    lines += [f"alert {a.alert_id} ({a.severity.value}): {a.summary}" for a in report.alerts.fired]
    if report.retrained:
        lines.append(f"  trained v{report.retrained.version}; request {report.retrained.request_id} awaits review")
    emit(document, as_json=as_json, lines=lines)


@click.command()
@click.argument("model")
@json_option
def shadow(model: str, as_json: bool) -> None:
    """Champion vs challenger per batch: disagreement, score shift and realized metrics."""
    from pipelines.reads.shadow import shadow_comparison

    batches = shadow_comparison(load_context(), model=model)
    lines = [
        f"{b['champion_batch']} v{b['champion_version']} vs v{b['challenger_version']}: "
        f"disagree on {b['disagreement_rate']:.1%} of {b['rows']} rows, score K-S {b['score_ks']:.3f}"
        for b in batches
    ]
    emit({"model": model, "batches": batches}, as_json=as_json, lines=lines or ["no batch scored by a challenger yet"])


def _segment_summary(batch: dict[str, Any]) -> str:
    findings = len(batch.get("segment_findings", []))
    failing = sum(f["passed"] is False for f in batch.get("fairness", []))
    text = f", {findings} segment findings" if findings else ""
    return text + (f", {failing} fairness checks fail" if failing else "")
