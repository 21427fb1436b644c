"""The mlgov command line. Every command prints one clear line on failure and exits non-zero.

Each command group lives in its own module of this package and is registered at the end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import click

from governance.errors import InputError
from governance.roles import GrantChange
from pipelines.cli.audit import audit
from pipelines.cli.lineage import evidence, lineage
from pipelines.cli.promote import history, model, promote, shadow
from pipelines.cli.support import (
    MlgovGroup,
    actor_option,
    emit,
    json_option,
    load_context,
    parse_instant,
)
from pipelines.cli.users import login, users


@click.group(cls=MlgovGroup)
def main() -> None:
    """Model governance and monitoring over a Delta Lake lakehouse (MLGOV_HOME, default ./.mlgov)."""


@main.command()
@click.option("--admin", help="Grant this user the admin role if the lakehouse has no admin yet.")
@json_option
def init(admin: str | None, as_json: bool) -> None:
    """Create the lakehouse and registry; idempotent."""
    from pipelines.jobs.access import init_lakehouse

    result = init_lakehouse(load_context(), admin=admin)
    emit(
        asdict(result),
        as_json=as_json,
        lines=[f"lakehouse ready at {result.home}; admins: {', '.join(result.admins) or '(none)'}"],
    )


@main.group()
def access() -> None:
    """Grant and revoke roles (maker, reviewer, auditor, analyst, admin)."""


def _role_command(change: GrantChange) -> Callable[..., None]:
    @click.argument("user")
    @click.argument("role")
    @actor_option
    @click.option("--reason", default="", help="Why the role changes.")
    @json_option
    def command(user: str, role: str, actor: str, reason: str, as_json: bool) -> None:
        from pipelines.jobs.access import change_role

        result = change_role(load_context(), user=user, role=role, change=change, actor=actor, reason=reason)
        verb = "granted to" if change is GrantChange.GRANT else "revoked from"
        holds = "already holds" if change is GrantChange.GRANT else "does not hold"
        line = f"{result.role} {verb} {user}" if result.changed else f"nothing to do: {user} {holds} {result.role}"
        emit({**asdict(result), "role": result.role.value}, as_json=as_json, lines=[line])

    command.__doc__ = f"{change.value.capitalize()} ROLE for USER (admins only)."
    return command


access.command("grant")(_role_command(GrantChange.GRANT))
access.command("revoke")(_role_command(GrantChange.REVOKE))


@main.command()
@click.argument("table")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--key", required=True, help="The entity key column: unique and complete.")
@click.option("--timestamp", help="The event timestamp column.")
@click.option("--timezone", default="UTC", show_default=True, help="Zone of timestamps written without one.")
@click.option("--mode", type=click.Choice(["append", "overwrite"]), default="append", show_default=True)
@actor_option
@json_option
def ingest(
    table: str, path: Path, key: str, timestamp: str | None, timezone: str, mode: str, actor: str, as_json: bool
) -> None:
    """Ingest a CSV or Parquet file into raw table TABLE."""
    from pipelines.jobs.ingest import IngestMode
    from pipelines.jobs.ingest import ingest as run_ingest

    result = run_ingest(
        load_context(),
        table=table,
        path=path,
        key=key,
        timestamp=timestamp,
        timezone=timezone,
        mode=IngestMode(mode),
        actor=actor,
    )
    emit(asdict(result), as_json=as_json, lines=[f"{result.rows} rows into {result.table} (version {result.version})"])


@main.command()
@click.argument("model")
@click.option("--table", required=True)
@click.option("--target", required=True, help="The 0/1 label column.")
@click.option("--features", help="Comma-separated feature columns (default: every other column).")
@click.option("--algorithm", type=click.Choice(["hgb", "logreg", "rf"]), default="hgb", show_default=True)
@actor_option
@json_option
def train(model: str, table: str, target: str, features: str | None, algorithm: str, actor: str, as_json: bool) -> None:
    """Train MODEL on TABLE and register a new version in MLflow."""
    from pipelines.jobs.train import train as run_train
    from pipelines.ml.modeling import Algorithm

    names = [f.strip() for f in features.split(",") if f.strip()] if features else None
    result = run_train(
        load_context(),
        model=model,
        table=table,
        target=target,
        features=names,
        algorithm=Algorithm(algorithm),
        actor=actor,
    )
    auc = result.metrics.get("roc_auc")
    emit(
        asdict(result),
        as_json=as_json,
        lines=[
            f"{model} version {result.version} registered (holdout ROC AUC {auc:.3f})"
            if auc is not None
            else f"{model} version {result.version} registered"
        ],
    )


@main.command()
@click.argument("model")
@click.option("--table", required=True)
@click.option("--from", "start", help="Score rows with timestamp >= this (ISO; UTC if no zone).")
@click.option("--to", "end", help="... and < this.")
@actor_option
@json_option
def score(model: str, table: str, start: str | None, end: str | None, actor: str, as_json: bool) -> None:
    """Score TABLE's rows with MODEL's champion as one batch (re-running adds nothing)."""
    from pipelines.jobs.score import score as run_score

    result = run_score(
        load_context(),
        model=model,
        table=table,
        start=parse_instant(start, "--from"),
        end=parse_instant(end, "--to"),
        actor=actor,
    )
    verb = "already scored" if result.already_scored else "scored"
    emit(
        asdict(result),
        as_json=as_json,
        lines=[f"batch {result.batch_id}: {result.rows} rows {verb} by {model} version {result.model_version}"],
    )


@main.command()
@click.argument("model")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--key", required=True, help="The entity key column, as scored.")
@click.option("--label", required=True, help="The 0/1 ground-truth column.")
@actor_option
@json_option
def labels(model: str, path: Path, key: str, label: str, actor: str, as_json: bool) -> None:
    """Load ground truth for MODEL as it arrives."""
    from pipelines.jobs.labels import load_labels

    result = load_labels(load_context(), model=model, path=path, key=key, label=label, actor=actor)
    emit(asdict(result), as_json=as_json, lines=[f"{result.rows} labels loaded for {model}"])


@main.command()
@click.argument("model")
@click.option("--actor", help="Who runs it (default: the mlgov-monitor service identity).")
@click.option(
    "--retrain", is_flag=True, help="If the retraining policy fires, retrain and open a request (needs --actor)."
)
@json_option
def monitor(model: str, actor: str | None, retrain: bool, as_json: bool) -> None:
    """Compute missing drift, quality and performance for MODEL's batches, then report them."""
    from pipelines.jobs.monitor import monitor as run_monitor

    if retrain and actor is None:
        raise InputError("--retrain needs --actor: the user the new version is trained and requested by")
    report = run_monitor(load_context(), model=model, actor=actor, retrain=retrain)
    trigger = report.trigger
    document = {
        "model": report.model,
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
    }
    lines = [f"{model}: {len(report.batches)} batches ({report.computed_drift} newly checked for drift)"]
    for b in report.batches:
        auc, estimate = b.performance.get("roc_auc"), b.estimated.get("roc_auc")
        perf = f", ROC AUC {auc:.3f} on {b.labelled_rows} labels" if auc is not None else ""
        perf += f", estimated ROC AUC {estimate:.3f}" if estimate is not None else ""
        flag = " DRIFTED" if b.drifted else ""
        alerts = f", {len(b.quality_alerts)} quality alerts" if b.quality_alerts else ""
        lines.append(
            f"  {b.batch_id} v{b.model_version} {b.rows} rows: drift share {b.drift_share:.2f}{flag}{perf}{alerts}"
        )
    lines.append(f"retraining: {trigger.reason}" if trigger else "retraining: not needed")
    if report.retrained:
        lines.append(f"  trained v{report.retrained.version}; request {report.retrained.request_id} awaits review")
    emit(document, as_json=as_json, lines=lines)


@main.command("retrain")
@click.argument("model")
@actor_option
@json_option
def retrain_command(model: str, actor: str, as_json: bool) -> None:
    """Retrain MODEL with its champion's recipe on the latest data and open a promotion request."""
    from pipelines.jobs.retrain import retrain

    result = retrain(load_context(), model=model, actor=actor)
    line = f"{model} v{result.version} trained on {result.trained_on}; request {result.request_id} awaits review"
    emit(asdict(result), as_json=as_json, lines=[line])


@main.command()
@json_option
def demo(as_json: bool) -> None:
    """Seed the lakehouse with a deterministic demo: three models, drift, labels, approvals."""
    from pipelines.demo.story import run_demo

    summary = run_demo(load_context(), progress=None if as_json else click.echo)
    emit(
        asdict(summary),
        as_json=as_json,
        lines=[f"demo ready: {summary.models} models, {summary.versions} versions, {summary.batches} batches"],
    )


@main.command()
@click.option("--port", default=8501, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True)
def app(port: int, address: str) -> None:
    """Serve the Streamlit app."""
    script = Path(__file__).resolve().parents[2] / "app" / "main.py"
    # The security settings are passed here too, so they hold whatever directory mlgov runs from.
    settings = {
        "server.port": str(port),
        "server.address": address,
        "server.headless": "true",
        "server.enableXsrfProtection": "true",
        "client.showErrorDetails": "none",
        "browser.gatherUsageStats": "false",
    }
    command = [sys.executable, "-m", "streamlit", "run", str(script), *(f"--{k}={v}" for k, v in settings.items())]
    sys.exit(subprocess.call(command))


main.add_command(audit)
main.add_command(promote)
main.add_command(lineage)
main.add_command(evidence)
main.add_command(history)
main.add_command(shadow)
main.add_command(model)
main.add_command(users)
main.add_command(login)
