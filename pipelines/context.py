"""The composition root of the jobs and the CLI, and the run record every job writes.

Only this module reads the environment. Each job runs inside `job_run`, which gives it a run id,
stamps that id on every Delta commit, audits what the job did (or refused), and writes one
`ops/runs` row with wall and CPU seconds, rows and bytes written, status and error.
"""

from __future__ import annotations

import json
import os
import resource
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import polars as pl

from governance.audit.actions import AuditAction, AuditOutcome
from governance.audit.canonical import canonical_json
from governance.audit.chain import AuditEntry, AuditRecord
from governance.errors import InputError, MlgovError, PermissionDenied, PolicyViolation, first_line
from governance.roles import AccessPolicy, Action, authorize
from lakehouse.audit.log import AuditLog
from lakehouse.channels import ChannelConfig, load_channels
from lakehouse.delta import CommitInfo, DeltaStore, WriteResult
from lakehouse.ledger import GOVERNED, Ledger, encode_rows, project
from lakehouse.records import access_policy
from lakehouse.schemas import ACCESS, AUDIT, CHAIN_TABLES, RUNS
from lakehouse.seals import SealStore
from lakehouse.settings import Settings, load_settings
from lakehouse.storage import Storage

if TYPE_CHECKING:
    # Imported where it is built: MLflow takes seconds to import, and `mlgov audit` needs none of it.
    from lakehouse.registry import ModelRegistry

Clock = Callable[[], datetime]
T = TypeVar("T")


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Refused:
    """How a refusal of a governed change is recorded: the permission asked for, and on what."""

    action: AuditAction | Action
    object_type: str
    object_id: str


@dataclass(frozen=True)
class Change:
    """One governance change: its audit record, and the rows of governance tables it adds."""

    action: AuditAction
    object_type: str
    object_id: str
    reason: str = ""
    details: Mapping[str, object] = field(default_factory=dict)
    rows: Mapping[str, pl.DataFrame] = field(default_factory=dict)


@dataclass
class Context:
    settings: Settings
    store: DeltaStore
    registry: ModelRegistry
    audit: AuditLog
    ledger: Ledger
    clock: Clock = system_clock
    # Things derived from an immutable model version (its training data profile, calibration,
    # ...), kept for the life of this context so a long-lived process computes them once.
    memo: dict[tuple[str, ...], Any] = field(default_factory=dict)
    # Where alerts can go, by name (from the environment and .streamlit/secrets.toml, never the lakehouse).
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)

    def remember(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        if key not in self.memo:
            self.memo[key] = compute()
        return cast(T, self.memo[key])


def build_context(
    environ: Mapping[str, str] | None = None, *, cwd: Path | None = None, clock: Clock = system_clock
) -> Context:
    from lakehouse.registry import ModelRegistry

    environ = os.environ if environ is None else environ
    settings = load_settings(environ, cwd=cwd or Path.cwd())
    store = DeltaStore(_storage(settings))
    return Context(
        settings=settings,
        store=store,
        registry=ModelRegistry(tracking_uri=settings.tracking_uri, artifact_root=settings.artifact_root),
        audit=_audit_log(settings, store),
        ledger=Ledger(store),
        clock=clock,
        channels=load_channels(environ, secrets=_streamlit_secrets(cwd or Path.cwd())),
    )


def _streamlit_secrets(cwd: Path) -> Mapping[str, Any]:
    """The project's .streamlit/secrets.toml (where Streamlit reads it too), or nothing."""
    try:
        with (cwd / ".streamlit" / "secrets.toml").open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputError(f".streamlit/secrets.toml cannot be read: {first_line(error)}") from None


def build_audit_log(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> AuditLog:
    """The audit trail alone, configured as `build_context` configures it, for commands that need only it."""
    settings = load_settings(os.environ if environ is None else environ, cwd=cwd or Path.cwd())
    return _audit_log(settings, DeltaStore(_storage(settings)))


def _storage(settings: Settings) -> Storage:
    """The lakehouse's storage; an object store is probed first, so a wrong endpoint, credentials or
    bucket is one clear error before any command reads or writes."""
    storage = Storage(settings.lakehouse_root, options=settings.storage_options)
    storage.probe()
    return storage


def _audit_log(settings: Settings, store: DeltaStore) -> AuditLog:
    return AuditLog(
        store,
        # Local locks and the spool group-commit the writers of one machine; on an object store the
        # writers are on many machines, and Delta's conditional commits alone serialize them.
        lock_path=None if store.storage.is_remote else settings.lock_root / "audit.lock",
        seals=SealStore(settings.audit_seals_root, key_path=settings.audit_key),
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class JobRun:
    """One execution of a job by one actor: what it wrote, and its audit trail."""

    ctx: Context
    job: str
    actor: str
    model: str | None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    rows: int = 0
    bytes_written: int = 0

    @property
    def commit(self) -> CommitInfo:
        return CommitInfo(run_id=self.run_id, job=self.job, actor=self.actor)

    def now(self) -> datetime:
        return self.ctx.clock()

    def append(self, table: str, frame: pl.DataFrame) -> WriteResult:
        return self._count(self.ctx.store.append(table, frame, commit=self.commit))

    def overwrite(self, table: str, frame: pl.DataFrame) -> WriteResult:
        return self._count(self.ctx.store.overwrite(table, frame, commit=self.commit))

    def _count(self, result: WriteResult) -> WriteResult:
        self.rows += result.rows
        self.bytes_written += result.bytes_written
        return result

    def audit(
        self,
        *,
        action: AuditAction | Action,
        object_type: str,
        object_id: str,
        reason: str = "",
        outcome: AuditOutcome = AuditOutcome.OK,
        details: Mapping[str, object] | None = None,
    ) -> AuditRecord:
        entry = self._entry(
            action=action, object_type=object_type, object_id=object_id, reason=reason, outcome=outcome, details=details
        )
        return self.ctx.audit.append(entry, commit=self.commit)

    def append_once(self, table: str, frame: pl.DataFrame, *, present: Callable[[pl.LazyFrame], bool]) -> None:
        """Append unless the rows are already there (see `DeltaStore.append_once`)."""
        result = self.ctx.store.append_once(table, frame, commit=self.commit, present=present)
        if result is not None:
            self._count(result)

    def append_stream_once(
        self,
        table: str,
        frames: Callable[[], Iterator[pl.DataFrame]],
        *,
        present: Callable[[pl.LazyFrame], bool],
    ) -> None:
        """Append rows that arrive in frames, in one commit, unless already there (see
        `DeltaStore.append_stream_once`)."""
        result = self.ctx.store.append_stream_once(table, frames, commit=self.commit, present=present)
        if result is not None:
            self._count(result)

    def audit_once(
        self, *, action: AuditAction, object_type: str, object_id: str, details: Mapping[str, object] | None = None
    ) -> None:
        """Audit `action` on `object_id` unless the chain already records it (a rerun completing a job
        that was interrupted after its audit record, or another writer doing the same at once)."""

        def decide(version: int | None) -> list[AuditEntry]:
            if version is not None:
                recorded = (
                    self.ctx.store.scan(AUDIT, version=version)
                    .filter((pl.col("action") == action.value) & (pl.col("object_id") == object_id))
                    .select(pl.len())
                    .collect()
                    .item()
                )
                if recorded:
                    return []
            return [self._entry(action=action, object_type=object_type, object_id=object_id, details=details)]

        self.ctx.audit.transact(decide, commit=self.commit)

    def govern(
        self, decide: Callable[[int | None], Sequence[Change]], *, refused: Refused | None = None
    ) -> list[AuditRecord]:
        """Record governance changes on the audit chain, atomically with the state they were decided on.

        `decide` reads the governed state at the audit version it is given (the `lakehouse.records`
        readers take `version=`) and returns the changes, or raises to refuse; when another writer
        commits first it runs again on the new state; a refusal it raises is audited as `refused`
        says, whichever attempt raised it. Once the chain holds the changes, the
        projection tables they touch are brought up to it (and before, any a killed job left behind).
        """
        for table in CHAIN_TABLES:  # rows a killed job (or a deletion) left out of a table: first restore those
            restored = self.project(table)
            if restored:
                self.audit(
                    action=AuditAction.RESTORE_PROJECTION,
                    object_type="table",
                    object_id=table,
                    reason=f"restored {restored} rows the audit chain holds and the table lacked",
                    details={"rows": restored},
                )
        decided: list[Change] = []

        def entries(version: int | None) -> list[AuditEntry]:
            decided[:] = decide(version)
            return [
                self._entry(
                    action=change.action,
                    object_type=change.object_type,
                    object_id=change.object_id,
                    reason=change.reason,
                    details={
                        **change.details,
                        GOVERNED: {table: encode_rows(table, rows) for table, rows in change.rows.items()},
                    },
                )
                for change in decided
            ]

        try:
            records = self.ctx.audit.transact(entries, commit=self.commit)
        except (PolicyViolation, PermissionDenied) as refusal:
            if refused is not None:
                self.audit(
                    action=refused.action,
                    object_type=refused.object_type,
                    object_id=refused.object_id,
                    outcome=AuditOutcome.REFUSED,
                    reason=str(refusal),
                )
            raise
        for table in dict.fromkeys(table for change in decided for table in change.rows):
            self.project(table)
        return records

    def project(self, table: str) -> int:
        """Bring a projection table up to the chain (see `lakehouse.ledger.project`); the rows added."""
        result = project(self.ctx.store, self.ctx.ledger, table, commit=self.commit)
        if result is None:
            return 0
        self._count(result)
        return result.rows

    def _entry(
        self,
        *,
        action: AuditAction | Action,
        object_type: str,
        object_id: str,
        reason: str = "",
        outcome: AuditOutcome = AuditOutcome.OK,
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            event_id=uuid.uuid4().hex,
            at=self.now(),
            actor=self.actor,
            action=action.value,
            object_type=object_type,
            object_id=object_id,
            outcome=outcome.value,
            reason=reason,
            details=canonical_json({"run_id": self.run_id, **(details or {})}),
        )

    @contextmanager
    def refusals_audited(
        self,
        action: AuditAction | Action,
        *,
        object_type: str,
        object_id: str,
        details: Mapping[str, object] | None = None,
    ) -> Iterator[None]:
        """Audit a PermissionDenied raised in the block as a refusal of `action`, then let it go on."""
        try:
            yield
        except PermissionDenied as refusal:
            self.audit(
                action=action,
                object_type=object_type,
                object_id=object_id,
                outcome=AuditOutcome.REFUSED,
                reason=str(refusal),
                details=details,
            )
            raise

    def authorize(self, action: Action, *, object_type: str, object_id: str) -> AccessPolicy:
        """The access policy, once the actor is known to be allowed `action`; refusals are audited."""
        policy = access_policy(self.ctx.ledger)
        if not policy.grants:
            require_migrated(self.ctx)
        with self.refusals_audited(action, object_type=object_type, object_id=object_id):
            authorize(policy, user=self.actor, action=action)
        return policy


NOT_MIGRATED = "this lakehouse was made by mlgov 0.1: an admin runs mlgov migrate --actor ADMIN first"


def require_migrated(ctx: Context) -> None:
    """Refuse to go on with a lakehouse an earlier release made until an admin has migrated it.

    mlgov 0.1 kept roles, requests, alias moves and evidence only in tables the audit chain does not
    vouch for, so until `mlgov migrate` carries them onto the chain nobody is known to hold a role.
    Such a lakehouse is one whose governance/access holds rows written before the chain carried them
    (no audit_seq) while the chain holds no grant.
    """
    if not ctx.store.exists(ACCESS):
        return
    legacy = ctx.store.scan(ACCESS).filter(pl.col("audit_seq").is_null()).select(pl.len()).collect().item()
    if legacy and ctx.ledger.table(ACCESS).height == 0:
        raise PolicyViolation(NOT_MIGRATED)


class Workers(Protocol):
    """Processes outside this one that a job has compute for it (an engine's cluster)."""

    def cpu_seconds(self) -> float:
        """Their CPU seconds so far (a running total: a job records how much it grew)."""
        ...


@contextmanager
def job_run(
    ctx: Context, *, job: str, actor: str, model: str | None = None, workers: Workers | None = None
) -> Iterator[JobRun]:
    """Run a job, then record it in ops/runs whether it succeeded or failed; its CPU seconds are this
    process's and, when the job computes elsewhere, its `workers'`."""
    run = JobRun(ctx=ctx, job=job, actor=actor, model=model)
    started_at, wall0, cpu0 = ctx.clock(), time.perf_counter(), _cpu_seconds()
    workers0 = workers.cpu_seconds() if workers else 0.0
    status, error = "succeeded", ""
    try:
        yield run
    except MlgovError as failure:
        status, error = "failed", str(failure)
        raise
    except BaseException as failure:
        status, error = "failed", f"{type(failure).__name__}: {failure}"
        raise
    finally:
        wall = time.perf_counter() - wall0
        record = {
            "run_id": run.run_id,
            "job": job,
            "actor": actor,
            "model": model,
            "started_at": started_at,
            "ended_at": ctx.clock(),
            "wall_seconds": wall,
            "cpu_seconds": _cpu_seconds() - cpu0 + (workers.cpu_seconds() - workers0 if workers else 0.0),
            "rows": run.rows,
            "bytes_written": run.bytes_written,
            "status": status,
            "error": error,
        }
        ctx.store.append(RUNS, pl.DataFrame([record]), commit=run.commit)


def to_json(document: Mapping[str, object]) -> str:
    return json.dumps(document, ensure_ascii=False, default=str)
