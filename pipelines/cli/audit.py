"""mlgov audit: the hash-chained audit trail, its signed seals and the key that signs them."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from governance.audit.canonical import utc_text
from governance.audit.verify import AuditVerdict
from governance.errors import MlgovError
from pipelines.cli.support import EXIT_REFUSED, emit, json_option, load_audit_log, load_context


@click.group()
def audit() -> None:
    """The hash-chained audit trail and its signed seals."""


@audit.command("verify")
@json_option
def audit_verify(as_json: bool) -> None:
    """Recompute the chain and check every seal; exit non-zero and name the first bad record if it does not hold."""
    from lakehouse.ledger import Ledger, projection_problems

    audit_log = load_audit_log()
    verdict = audit_log.verify()
    # the governance tables against the chain, once the chain itself holds
    problems = projection_problems(audit_log.store, Ledger(audit_log.store)) if verdict.ok else []
    seals = audit_log.seals
    fingerprint = seals.published_fingerprint()
    document = {
        **asdict(verdict),
        "ok": verdict.ok and not problems,
        "projection_problems": problems,
        "seals_dir": str(seals.directory),
        "key_fingerprint": fingerprint,
    }
    lines = [_verdict_line(verdict), _sealing_line(verdict, fingerprint), *(f"NOT vouched: {p}" for p in problems)]
    if not document["ok"]:
        lines += _alert_failed_verify(verdict, problem=lines[0])
    emit(document, as_json=as_json, lines=lines)
    if not document["ok"]:
        sys.exit(EXIT_REFUSED)


def _alert_failed_verify(verdict: AuditVerdict, *, problem: str) -> list[str]:
    """Fire the failed-verification alert; what it fired, or why it could not (the verdict stands either way)."""
    from pipelines.jobs.alerts import alert_on_failed_verify

    try:
        # the full context (MLflow included) only now: a chain that holds is verified without it
        ctx = load_context(allow_unmigrated=True)
        outcome = alert_on_failed_verify(ctx, first_bad_seq=verdict.first_bad_seq, problem=problem)
    except (MlgovError, OSError) as error:  # the trail is damaged: reading it may fail in any way a file can
        return [f"the alert could not be recorded: {error}"]
    return [f"alert {a.alert_id} ({a.severity.value}): {a.summary}" for a in outcome.fired]


def _verdict_line(verdict: AuditVerdict) -> str:
    if verdict.ok:
        return f"audit chain intact: {verdict.records} records"
    if verdict.first_bad_seq is None:
        return f"audit trail NOT verified: {verdict.problem}"
    return f"audit chain BROKEN at record {verdict.first_bad_seq}: {verdict.problem}"


def _sealing_line(verdict: AuditVerdict, fingerprint: str | None) -> str:
    if verdict.seals == 0:
        return (
            f"not sealed yet: {verdict.unsealed_records} records are vouched for by the chain alone (mlgov audit seal)"
        )
    key = f" (key {fingerprint})" if fingerprint else ""
    if verdict.sealed_through is None:
        return f"no valid seal covers any record; {verdict.seals} seals checked{key}"
    tail = (
        "1 record after it is" if verdict.unsealed_records == 1 else f"{verdict.unsealed_records} records after it are"
    )
    return f"sealed through record {verdict.sealed_through}{key}; {tail} not sealed yet"


@audit.command("seal")
@json_option
def audit_seal(as_json: bool) -> None:
    """Verify the trail, then sign its tip with the audit key (MLGOV_AUDIT_KEY) into MLGOV_AUDIT_SEALS."""
    ctx = load_context(allow_unmigrated=True)  # sealing the trail before a migration is worth doing
    seal = ctx.audit.seal(at=ctx.clock())
    checkpoint = seal.checkpoint
    document = {
        "seal": seal.name,
        "index": checkpoint.index,
        "seq": checkpoint.seq,
        "tip_hash": checkpoint.tip_hash,
        "delta_version": checkpoint.delta_version,
        "table_id": checkpoint.table_id,
        "sealed_at": utc_text(checkpoint.sealed_at),
        "seals_dir": str(ctx.audit.seals.directory),
        "key_fingerprint": ctx.audit.seals.published_fingerprint(),
    }
    emit(
        document,
        as_json=as_json,
        lines=[
            f"sealed record {checkpoint.seq} (Delta version {checkpoint.delta_version}) as {seal.name} "
            f"in {ctx.audit.seals.directory}"
        ],
    )


@audit.command("keygen")
@json_option
def audit_keygen(as_json: bool) -> None:
    """Create the Ed25519 audit key at MLGOV_AUDIT_KEY (mode 0600) and publish its public key beside the seals."""
    seals = load_audit_log().seals
    key = seals.create_key()
    document = {
        "key": str(key.path),
        "public_key_file": str(seals.public_key_path),
        "fingerprint": key.fingerprint,
        "public_key": key.public_pem,
    }
    emit(
        document,
        as_json=as_json,
        lines=[
            f"audit key written to {key.path} (mode 0600): keep it private and backed up",
            f"public key published to {seals.public_key_path}",
            f"fingerprint {key.fingerprint}: give it to your auditors",
            key.public_pem.rstrip("\n"),
        ],
    )
