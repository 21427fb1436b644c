"""Components of the Audit trail and Lineage pages that run work on request and keep its result:
verifying the audit chain, and preparing a model version's evidence pack for download. Each is a
`render_...(..., key=...)` function; what it keeps lives under `key` (its widgets under `key.*`).

The work runs in the session's own script thread and takes no lock of the app's: other sessions
are never held up by it (appending the export's audit record is the audit log's own business).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import streamlit as st

from app import queries, services
from app.text import plain
from governance.audit.verify import AuditVerdict
from governance.errors import MlgovError
from governance.identity import SignedIn
from governance.roles import PERMISSIONS, Action, permitted_actions
from pipelines.jobs.evidence import export_evidence

# --- sealing the audit chain --------------------------------------------------------------------


def render_seal(*, key: str, user: SignedIn) -> None:
    """The audit key's fingerprint, and for auditors a button that seals the chain's tip now, as
    `mlgov audit seal` does (it verifies the whole trail first and refuses to seal a broken one)."""
    context = services.get_context()
    try:
        published = context.audit.seals.published_fingerprint()
    except MlgovError as error:
        st.caption(plain(f"Seals are not configured: {error}"))
        return
    if published is None:  # nothing could sign a seal yet: no button that can only fail
        st.caption("No audit key is published beside the seals yet: an operator runs `mlgov audit keygen` once.")
        return
    st.text(f"Audit key fingerprint: {published}")
    st.caption("Compare it with the fingerprint the key's owner gave you: seals signed by any other key are void.")
    if Action.SEAL_AUDIT not in permitted_actions(user.roles):
        return
    if st.button("Seal the chain", key=f"{key}.run", icon=":material/lock:"):
        try:
            with st.spinner("Verifying the trail and signing its tip…"):
                seal = context.audit.seal(at=context.clock())
        except MlgovError as error:
            st.error(plain(str(error)))
            return
        checkpoint = seal.checkpoint
        st.session_state[key] = (
            f"Sealed record {checkpoint.seq} (Delta version {checkpoint.delta_version}) as {seal.name}, "
            f"signed by the key {context.audit.seals.published_fingerprint()}."
        )
    done = st.session_state.get(key)
    if isinstance(done, str):
        st.success(plain(done))


# --- verifying the audit chain ------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    verdict: AuditVerdict
    checked_at: datetime


def render_verification(*, key: str, records: pl.DataFrame | None = None) -> Verification | None:
    """A button that verifies the chain and every seal now, and the latest result of this session.

    A broken chain names its first bad record and the problem, shown as text; when `records` (columns
    of `pipelines.reads.audit.AUDIT_SCHEMA`) holds that record, it is shown as storage holds it now.
    """
    if st.button("Verify the chain", key=f"{key}.run", type="primary", icon=":material/verified:"):
        with st.status("Verifying the audit chain…", expanded=True) as status:
            st.write("Reading every record and seal afresh and recomputing each hash in sequence order…")
            try:
                context = services.get_context()
                verdict = context.audit.verify()
            except MlgovError as error:
                status.update(label="The audit chain could not be verified", state="error")
                st.error(plain(str(error)))
            else:
                st.session_state[key] = Verification(verdict=verdict, checked_at=context.clock())
                queries.audit_trail.clear()  # show the records as they were just verified
                label = f"Verified {verdict.records} records" if verdict.ok else "Verification failed"
                status.update(label=label, state="complete" if verdict.ok else "error", expanded=False)
    done = st.session_state.get(key)
    if not isinstance(done, Verification):
        st.caption("Not verified in this session yet: the check reads the whole trail and takes a moment.")
        return None
    _show_verdict(done, records=records)
    return done


def _show_verdict(done: Verification, *, records: pl.DataFrame | None) -> None:
    verdict, at = done.verdict, f"{done.checked_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if verdict.ok:
        st.success(plain(f"Audit chain intact: {verdict.records} records, verified at {at}."))
    elif verdict.first_bad_seq is None:
        st.error(plain(f"Audit trail NOT verified (checked at {at}): {verdict.problem}"))
    else:
        st.error(plain(f"Audit chain BROKEN at record {verdict.first_bad_seq} (checked at {at}): {verdict.problem}"))
    sealing = _sealing_line(verdict)
    if sealing:
        st.caption(plain(sealing))
    if verdict.first_bad_seq is not None and records is not None:
        bad = records.filter(pl.col("seq") == verdict.first_bad_seq)
        if bad.height:
            st.caption(plain(f"Record {verdict.first_bad_seq} as storage holds it now:"))
            st.dataframe(
                bad.select("seq", "at", "actor", "action", "object", "outcome", "reason", "details", "hash"),
                hide_index=True,
                width="stretch",
            )


def _sealing_line(verdict: AuditVerdict) -> str | None:
    # Seals were added to the verdict later: read them defensively, as older verdicts lack them.
    seals = getattr(verdict, "seals", None)
    sealed_through = getattr(verdict, "sealed_through", None)
    unsealed = getattr(verdict, "unsealed_records", None)
    if seals is None:
        return None
    if seals == 0:
        return (
            f"Not sealed yet: the {unsealed if unsealed is not None else verdict.records} records are vouched "
            "for by the chain alone (an administrator can seal the tip with mlgov audit seal)."
        )
    if sealed_through is None:
        return f"No valid seal covers any record ({seals} seals checked)."
    after = f"; {unsealed} records after it are not sealed yet" if unsealed else ""
    return f"Sealed through record {sealed_through} ({seals} seals checked){after}."


# --- the evidence pack of a model version -------------------------------------------------------


@dataclass(frozen=True)
class PreparedPack:
    model_version: str
    file_name: str
    data: bytes
    records: int
    requests: int


_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def pack_file_name(model_version: str) -> str:
    model, _, version = model_version.rpartition("/")
    return _UNSAFE_IN_FILE_NAME.sub("_", f"{model}-v{version}-evidence") + ".zip"


def export_refusal(user: SignedIn) -> str | None:
    """Why `user`'s roles may not export evidence, or None (the export checks again, and audits a refusal)."""
    if any(Action.EXPORT_EVIDENCE in PERMISSIONS[role] for role in user.roles):
        return None
    needed = ", ".join(sorted(r.value for r, actions in PERMISSIONS.items() if Action.EXPORT_EVIDENCE in actions))
    return f"exporting an evidence pack needs the {needed} role"


def render_evidence_pack(*, model_version: str, user: SignedIn, key: str) -> PreparedPack | None:
    """Prepare the evidence pack of `model_version` ("model/version") on request, then offer it for download.

    The pack is written to a temporary folder, read into this session and the folder removed; the
    export itself is audited. The prepared pack is kept under `key` until another is prepared.
    """
    model, _, version = model_version.rpartition("/")
    refusal = export_refusal(user)
    if st.button(
        "Prepare the evidence pack",
        key=f"{key}.prepare",
        icon=":material/folder_zip:",
        disabled=refusal is not None,
        help=refusal,
    ):
        with st.status(f"Exporting the evidence pack of {plain(model_version)}…", expanded=True) as status:
            st.write("Gathering the model card, promotion requests, alias history, lineage and the audit chain…")
            name = pack_file_name(model_version)
            try:
                with tempfile.TemporaryDirectory(prefix="mlgov-evidence-") as folder:
                    out = Path(folder) / name
                    pack = export_evidence(
                        services.get_context(), model=model, version=version, out=out, actor=user.user
                    )
                    data = out.read_bytes()
            except MlgovError as error:
                status.update(label="The evidence pack could not be exported", state="error")
                st.error(plain(str(error)))
            else:
                st.session_state[key] = PreparedPack(
                    model_version=model_version, file_name=name, data=data, records=pack.records, requests=pack.requests
                )
                queries.audit_trail.clear()  # the export added an audit record
                status.update(label=f"Evidence pack of {plain(model_version)} ready", state="complete", expanded=False)
    if refusal is not None:
        st.caption(plain(f"Preparing is disabled: {refusal}."))
    prepared = st.session_state.get(key)
    if not isinstance(prepared, PreparedPack) or prepared.model_version != model_version:
        return None
    st.download_button(
        f"Download {prepared.file_name} ({len(prepared.data) / 1024:,.0f} KB)",
        data=prepared.data,
        file_name=prepared.file_name,
        mime="application/zip",
        on_click="ignore",
        key=f"{key}.download",
        type="primary",
        icon=":material/download:",
    )
    st.caption(
        plain(
            f"It holds {_counted(prepared.records, 'audit record')} and "
            f"{_counted(prepared.requests, 'promotion request')} of {model_version}. "
            "Unzip it and run python verify_pack.py inside to check the records against the chain."
        )
    )
    return prepared


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
