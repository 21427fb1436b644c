"""mlgov lineage / evidence: trace predictions and table versions; export evidence packs."""

from __future__ import annotations

from pathlib import Path

import click

from governance.errors import InputError
from pipelines.cli.support import actor_option, emit, json_option, load_context


@click.command()
@click.option("--prediction", "prediction_id", help="A prediction, as <batch_id>:<entity key>.")
@click.option("--table", help="A table (e.g. loans or raw/loans) ...")
@click.option("--version", type=int, help="... at this Delta version.")
@json_option
def lineage(prediction_id: str | None, table: str | None, version: int | None, as_json: bool) -> None:
    """Trace a prediction upstream, or a table version downstream."""
    from pipelines.reads.lineage import prediction_lineage, table_lineage

    if (prediction_id is None) == (table is None):
        raise InputError("give either --prediction ID or --table T --version V")
    ctx = load_context()
    if prediction_id is not None:
        document = prediction_lineage(ctx, prediction_id=prediction_id)
        trained = document["training_table"]
        lines = [
            f"prediction {prediction_id}: score {document['prediction']['score']:.4f}",
            f"  batch {document['batch']['batch_id']} scored {document['input_table']['table']}"
            f"@{document['input_table']['version']}",
            f"  by {document['model_version']['model']} v{document['model_version']['version']}"
            f" (MLflow run {document['training_run']})",
            f"  trained on {trained['table']}@{trained['version']}" if trained else "  training table unknown",
        ]
    else:
        if version is None:
            raise InputError("--table needs --version V")
        document = table_lineage(ctx, table=table or "", version=version)
        lines = [f"{document['table']}@{version}:"]
        lines += [f"  trained {m['model']} v{m['version']}" for m in document["model_versions"]]
        lines += [
            f"  batch {b['batch_id']} ({b['model']} v{b['model_version']}, {b['rows']} rows)"
            for b in document["batches"]
        ]
    emit(document, as_json=as_json, lines=lines)


@click.command()
@click.argument("model")
@click.argument("version")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The zip file to write.")
@actor_option
@json_option
def evidence(model: str, version: str, out: Path, actor: str, as_json: bool) -> None:
    """Export the evidence pack of MODEL VERSION (auditors)."""
    from pipelines.jobs.evidence import export_evidence

    pack = export_evidence(load_context(), model=model, version=version, out=out, actor=actor)
    document = {"path": str(pack.path), "audit_records": pack.records, "requests": pack.requests}
    emit(document, as_json=as_json, lines=[f"evidence pack written to {pack.path} ({pack.records} audit records)"])
