"""Which versions a server answers with: the champion the governed record names (and the challenger it
shadows), verified before serving, re-read every few seconds and swapped in without a restart.

A version is served only when the governed record names it, MLflow's alias shows the same version, and
the model files hash to the digest recorded when it was registered. A request holds the `ServedVersion`
it started with, so a swap never fails one in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from governance.audit.actions import AuditAction, AuditOutcome
from governance.errors import MlgovError
from governance.features import FeatureSpec
from governance.promotion import PRODUCTION_ALIAS, SHADOW_ALIAS
from lakehouse.records import alias_moves, registered_versions
from pipelines.context import Context, job_run
from pipelines.ml.tasks import TaskKind
from pipelines.reads.feature_tables import FeatureLookup, LookedUp, joined_columns, spine_excluded
from pipelines.reads.governed import alias_holder
from pipelines.reads.versions import VersionRecipe, kind_for, version_model, version_recipe
from pipelines.serving.contract import InputContract, Limits, Rejection, RequestRejected
from pipelines.serving.fastpath import request_scorer

SYSTEM_ACTOR = "mlgov-serve"


@dataclass(frozen=True)
class ServedVersion:
    """One version, loaded and verified, with what it needs to answer a request."""

    model: str
    version: str
    role: str
    estimator: Any
    kind: TaskKind
    spec: FeatureSpec
    contract: InputContract
    chunk_rows: int
    # a version trained with feature tables: its joined features are looked up by the keys a request sends
    lookup: FeatureLookup | None = None

    def complete(self, frame: pl.DataFrame, *, at: datetime) -> tuple[pl.DataFrame, LookedUp | None]:
        """`frame` (a parsed request) with the version's joined features looked up by key, latest values
        as of `at`; RequestRejected naming the first row whose key is missing or that no table holds."""
        if self.lookup is None:
            return frame, None
        keys = self.lookup.keys
        for name in keys:
            if name not in frame.columns:  # a challenger whose tables use a key the champion's callers do not send
                raise MlgovError(f"{self.model} version {self.version} needs key {name!r}, which the request lacks")
            nulls = frame[name].is_null()
            if nulls.any():
                raise RequestRejected(
                    Rejection.MISSING_FIELD,
                    f"row {int(nulls.arg_true()[0])}: field {name!r} is null: the features are looked up by it",
                )
        found = self.lookup.lookup({name: frame[name].to_list() for name in keys}, at=at)
        if found.unknown:
            row, table, key = found.unknown[0]
            rows = len({unknown[0] for unknown in found.unknown})
            raise RequestRejected(
                Rejection.UNKNOWN_KEY,
                f"row {row}: {table} (version {found.versions[table]}) holds no row for key {key!r}"
                + (f" ({rows} rows of the request have unknown keys)" if rows > 1 else ""),
            )
        # a shadowed request arrives with the champion's looked-up values: this version's own replace them
        sent = frame.drop([c for c in found.features.columns if c in frame.columns])
        return pl.concat([sent, found.features], how="horizontal"), found

    def predict(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """The task's prediction columns (as in the predictions table) for the rows of `frame`."""
        outputs = self.kind.outputs(self.estimator, frame, self.spec, chunk_rows=self.chunk_rows)
        return self.kind.prediction_columns(outputs)


class Unverified(MlgovError):
    """The governed record names no version to serve, or one that cannot be verified."""


def load_version(ctx: Context, *, model: str, version: str, role: str, limits: Limits) -> ServedVersion:
    """`version` of `model`, once its files hash to the digest the governed record holds."""
    recipe = version_recipe(ctx, model, version)
    registered = registered_versions(ctx.ledger, model=model)[(model, version)]
    digest = ctx.registry.artifact_digest(model, version)
    if digest != registered.artifact_digest:
        raise Unverified(
            f"{model} version {version}: its model files hash to {digest[:12]}, "
            f"not to {registered.artifact_digest[:12]} as registered; it is not served"
        )
    lookup = None
    if recipe.feature_tables:
        lookup = FeatureLookup(ctx, recipe.feature_tables)
        lookup.refresh()
    return ServedVersion(
        model=model,
        version=version,
        role=role,
        estimator=request_scorer(version_model(ctx, model, version, recipe), recipe.spec),
        kind=kind_for(recipe),
        spec=recipe.spec,
        contract=version_contract(ctx, recipe, limits=limits),
        chunk_rows=ctx.settings.score_chunk_rows,
        lookup=lookup,
    )


def version_contract(ctx: Context, recipe: VersionRecipe, *, limits: Limits) -> InputContract:
    """What a request row for a version carries: its features, types as in its training table; for a
    version trained with feature tables, the entity keys instead of the features they bring."""
    schema = dict(ctx.store.scan(recipe.table, version=recipe.table_version).collect_schema())
    if not recipe.feature_tables:
        return InputContract.of(recipe.spec, schema, limits=limits)
    joined = set(joined_columns(ctx, recipe.feature_tables))
    sent = FeatureSpec(
        numeric=tuple(c for c in recipe.spec.numeric if c not in joined),
        categorical=tuple(c for c in recipe.spec.categorical if c not in joined),
    )
    keys = tuple(dict.fromkeys(spine_excluded(ctx, recipe.feature_tables)))
    return InputContract.of(sent, schema, limits=limits, keys=keys)


# How long MLflow may still show the previous holder after a move on the record (the promotion job mirrors
# it right after recording it) before the server stops answering.
MIRROR_GRACE_SECONDS = 30.0


def governed_holder(ctx: Context, *, model: str, alias: str, mirroring: bool) -> str | None:
    """The version the governed record gives `alias`, once MLflow's alias is seen to show it; Unverified
    on any disagreement. With `mirroring` (MLflow may still lag the record), MLflow showing the
    version the record moved away from last (a promotion between its record and its mirror) answers
    that previous version."""
    governed = alias_holder(ctx, model, alias)
    shown = ctx.registry.alias_version(model, alias)
    if governed != shown:  # a move recorded and mirrored between the two reads reads the same again
        governed = alias_holder(ctx, model, alias)
    if governed == shown:
        return governed
    moves = [m for m in alias_moves(ctx.ledger, model=model) if m.alias == alias]
    if mirroring and moves and shown == moves[-1].previous:
        return shown
    raise Unverified(
        f"{model}'s {alias} is version {shown or '(none)'} in MLflow but version {governed or '(none)'} on the "
        "governed record; nothing is served from the disagreement (mlgov registry check)"
    )


class VersionWatch:
    """The champion and challenger currently served, re-resolved every `interval` seconds on a thread of
    its own. `champion` is None only while unverified (requests are then refused with 503)."""

    def __init__(
        self,
        ctx: Context,
        *,
        model: str,
        limits: Limits,
        interval: float,
        on_change: Callable[[VersionWatch], None] = lambda watch: None,
    ) -> None:
        self._ctx = ctx
        self._model = model
        self._limits = limits
        self._interval = interval
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._audited: str | None = None
        self._lagging: dict[str, float] = {}  # since when MLflow has shown each alias's previous holder
        self.champion: ServedVersion | None = None
        self.challenger: ServedVersion | None = None
        self.problem: str | None = None

    def resolve(self) -> None:
        """Read the governed record and swap in what changed; never raises. A champion that cannot be
        served makes the server unready (`problem`); a challenger that cannot pauses the shadow only."""
        try:
            champion = self._resolved(PRODUCTION_ALIAS, self.champion)
            if champion is None:
                raise Unverified(f"model {self._model!r} has no {PRODUCTION_ALIAS} version: promote one first")
        except MlgovError as problem:
            self.champion, self.problem = None, str(problem)
            self._audit_problem(str(problem))
            return
        try:
            challenger = self._resolved(SHADOW_ALIAS, self.challenger)
        except MlgovError as problem:
            challenger = None
            self._audit_problem(f"shadow paused: {problem}")
        else:
            self._audited = None
        if challenger is not None and challenger.version == champion.version:
            challenger = None
        for served in (champion, challenger):
            if served is not None and served.lookup is not None:
                try:
                    served.lookup.refresh()  # a feature table's new version is served from the next request on
                except MlgovError as problem:
                    self._audit_problem(f"feature values not refreshed: {problem}")
        changed = champion is not self.champion or challenger is not self.challenger
        self.champion, self.challenger, self.problem = champion, challenger, None
        if changed:
            self._on_change(self)

    def _resolved(self, alias: str, current: ServedVersion | None) -> ServedVersion | None:
        # MLflow may show an alias's previous holder for a short while after a move on the record (the
        # promotion job mirrors it right after): a lag first seen less than the grace ago is tolerated
        since = self._lagging.get(alias)
        mirroring = since is None or time.monotonic() - since < MIRROR_GRACE_SECONDS
        version = governed_holder(self._ctx, model=self._model, alias=alias, mirroring=mirroring)
        if version == alias_holder(self._ctx, self._model, alias):
            self._lagging.pop(alias, None)
        else:
            self._lagging.setdefault(alias, time.monotonic())
        if version is None:
            return None
        if current is not None and current.version == version:
            return current
        return load_version(self._ctx, model=self._model, version=version, role=alias, limits=self._limits)

    def _audit_problem(self, problem: str) -> None:
        if problem == self._audited:
            return  # audited once per distinct problem, not once per poll
        self._audited = problem
        try:
            with job_run(self._ctx, job="serve", actor=SYSTEM_ACTOR, model=self._model) as run:
                run.audit(
                    action=AuditAction.REGISTRY_DIVERGENCE,
                    object_type="model",
                    object_id=self._model,
                    outcome=AuditOutcome.REFUSED,
                    reason=f"not serving: {problem}",
                )
        except MlgovError:
            pass  # the problem is reported by /readyz whether or not the audit trail took it

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mlgov-serve-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.resolve()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
