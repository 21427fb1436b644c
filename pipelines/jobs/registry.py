"""MLflow as a mirror of the governed record: keeping it in step, finding where it differs, repairing it.

The audit chain decides which version holds an alias, how each version was made and each model's
policy. MLflow's aliases and `mlgov.*` tags only show it (its UI, its clients). Anyone with access to
MLflow can change them; nothing mlgov decides or serves follows such a change. `check_registry`
lists every difference, `reconcile_registry` (admins) puts MLflow back, and both are audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from governance.audit.actions import AuditAction, AuditOutcome
from governance.errors import PolicyViolation
from governance.promotion import ALIASES as ALIAS_NAMES
from governance.promotion import fold_requests
from governance.roles import Action
from lakehouse.audit.spool import locked
from lakehouse.records import alias_moves, promotion_events, registered_versions
from pipelines.context import Context, JobRun, job_run
from pipelines.reads.governed import PURPOSE_TAG, TIER_TAG, alias_holder, alias_holders, model_settings, tier_of
from pipelines.reads.versions import recipe_tags

SYSTEM_ACTOR = "mlgov-registry"


@dataclass(frozen=True)
class Divergence:
    """One place where MLflow says something else than the governed record."""

    model: str
    kind: str  # "alias", "model_tag" or "version_tag"
    name: str  # the alias or the tag
    version: str | None  # the model version a version tag is on
    governed: str | None  # what the chain says (None: nothing)
    registry: str | None  # what MLflow says (None: nothing)

    def describe(self) -> str:
        where = f"{self.model} version {self.version}" if self.version else self.model
        shown, governed = self.registry or "(unset)", self.governed or "(unset)"
        return f"{where}: {self.kind} {self.name} is {shown} in MLflow, {governed} on the record"


def governed_version_tags(ctx: Context, model: str) -> dict[str, dict[str, str]]:
    """The `mlgov.*` tags each registered version of `model` must show: its recipe, and the status
    of its latest promotion request."""
    expected = {
        version: recipe_tags(registered.recipe)
        for (_, version), registered in registered_versions(ctx.ledger, model=model).items()
    }
    for request in fold_requests(promotion_events(ctx.ledger, model=model)).values():
        if request.version in expected:  # latest request wins: requests fold in chain order
            expected[request.version] |= {
                "mlgov.request_id": request.request_id,
                "mlgov.approval_status": request.status.value,
                "mlgov.requested_by": request.requester,
                "mlgov.break_glass": "true" if request.break_glass else "false",
            }
    return expected


def governed_model_tags(ctx: Context, model: str) -> dict[str, str]:
    settings = model_settings(ctx).get(model, {})
    tags = {TIER_TAG: tier_of(settings).value}
    if "purpose" in settings:
        tags[PURPOSE_TAG] = settings["purpose"]
    return tags


def divergences(ctx: Context, *, model: str | None = None) -> list[Divergence]:
    """Every alias and `mlgov.*` tag where MLflow differs from the governed record."""
    found: list[Divergence] = []
    holders = alias_holders(ctx)
    for registered in ctx.registry.models():
        name = registered.name
        if model is not None and name != model:
            continue
        for alias in ALIAS_NAMES:
            governed, shown = holders.get(name, {}).get(alias), registered.aliases.get(alias)
            if governed != shown:
                found.append(Divergence(name, "alias", alias, None, governed, shown))
        for tag, value in governed_model_tags(ctx, name).items():
            if registered.tags.get(tag) != value:
                found.append(Divergence(name, "model_tag", tag, None, value, registered.tags.get(tag)))
        expected = governed_version_tags(ctx, name)
        for info in ctx.registry.versions(name) if expected else []:
            for tag, value in expected.get(info.version, {}).items():
                if info.tags.get(tag) != value:
                    found.append(Divergence(name, "version_tag", tag, info.version, value, info.tags.get(tag)))
    return found


def mirror_model(ctx: Context, model: str, *, version_tags: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Set MLflow's aliases and `mlgov.*` tags of `model` to the governed record (plus `version_tags`,
    informative tags a job computed). Called after every governed change; best effort by design:
    should it fail, production still follows the chain, and `mlgov registry reconcile` repairs it.

    Mirrors of one lakehouse run one at a time and read the chain inside the lock, so a slower mirror
    of an older state never overwrites a newer one; what the chain says wins over `version_tags`.
    """
    with locked(ctx.settings.lock_root / "mirror.lock", wait=True):
        _mirror(ctx, model, version_tags=version_tags or {})


def _mirror(ctx: Context, model: str, *, version_tags: Mapping[str, Mapping[str, str]]) -> None:
    registered = next((m for m in ctx.registry.models() if m.name == model), None)
    if registered is None:
        return
    holders = alias_holders(ctx).get(model, {})
    for alias in ALIAS_NAMES:
        governed = holders.get(alias)
        if governed != registered.aliases.get(alias):
            if governed is None:
                ctx.registry.delete_alias(model, alias)
            else:
                ctx.registry.set_alias(model, alias, governed)
    for tag, value in governed_model_tags(ctx, model).items():
        if registered.tags.get(tag) != value:
            ctx.registry.set_model_tag(model, tag, value)
    expected = governed_version_tags(ctx, model)
    for version, extra in version_tags.items():
        if extra.get("mlgov.approval_status", "") not in ("", expected.get(version, {}).get("mlgov.approval_status")):
            continue  # computed on a state the chain has moved past
        expected[version] = {**extra, **expected.get(version, {})}
    if expected:
        current = {info.version: info.tags for info in ctx.registry.versions(model)}
        for version, tags in expected.items():
            changed = {k: v for k, v in tags.items() if current.get(version, {}).get(k) != v}
            if changed and version in current:
                ctx.registry.set_version_tags(model, version, changed)


def served_version(run: JobRun, model: str, alias: str) -> str | None:
    """The version to serve for `alias`: the governed record's, once MLflow is seen to agree with it.

    When MLflow's alias says otherwise (someone moved it behind mlgov's back, or a mirror failed),
    nothing is served from the disagreement: the divergence is audited and refused.
    """
    governed = alias_holder(run.ctx, model, alias)
    shown = run.ctx.registry.alias_version(model, alias)
    if governed != shown and shown is not None and shown == _held_before(run.ctx, model, alias):
        # MLflow still shows the version the governed record moved away from last: the job that moved
        # it was stopped before mirroring the move. Finish the mirror; the record is the truth.
        mirror_model(run.ctx, model)
        run.audit(
            action=AuditAction.RECONCILE_REGISTRY,
            object_type="model",
            object_id=model,
            reason=f"completed the mirror of {alias}: MLflow showed version {shown}, the record says {governed}",
            details={"alias": alias, "governed": governed or "", "registry": shown},
        )
        shown = governed
    if governed != shown:
        from pipelines.jobs.alerts import alert_on_divergences

        found = Divergence(model, "alias", alias, None, governed, shown)
        alert_on_divergences(run.ctx, [found], commit=run.commit)
        run.audit(
            action=AuditAction.REGISTRY_DIVERGENCE,
            object_type="model",
            object_id=model,
            outcome=AuditOutcome.REFUSED,
            reason=found.describe(),
            details={"alias": alias, "governed": governed or "", "registry": shown or ""},
        )
        raise PolicyViolation(
            f"{model}'s {alias} is version {shown or '(none)'} in MLflow but version {governed or '(none)'} on the "
            "governed record; nothing is served from the disagreement: see mlgov registry check, "
            "and an admin runs mlgov registry reconcile"
        )
    return governed


def _held_before(ctx: Context, model: str, alias: str) -> str | None:
    """The version that held `alias` before the latest move on the governed record."""
    moves = [m for m in alias_moves(ctx.ledger, model=model) if m.alias == alias]
    return moves[-1].previous if moves else None


@dataclass(frozen=True)
class RegistryCheck:
    ok: bool
    divergences: tuple[Divergence, ...]

    def document(self) -> dict[str, object]:
        return {"ok": self.ok, "divergences": [asdict(d) for d in self.divergences]}


def check_registry(ctx: Context, *, actor: str | None = None) -> RegistryCheck:
    """Compare every alias and `mlgov.*` tag with the governed record; a divergence is audited."""
    found = divergences(ctx)
    if found:
        with job_run(ctx, job="registry_check", actor=actor or SYSTEM_ACTOR) as run:
            run.audit(
                action=AuditAction.REGISTRY_DIVERGENCE,
                object_type="registry",
                object_id=ctx.registry.tracking_uri,
                reason=f"{len(found)} divergences between MLflow and the governed record",
                details={"divergences": [d.describe() for d in found[:100]]},
            )
            from pipelines.jobs.alerts import alert_on_divergences

            alert_on_divergences(ctx, found, commit=run.commit)
    return RegistryCheck(ok=not found, divergences=tuple(found))


def reconcile_registry(ctx: Context, *, actor: str) -> RegistryCheck:
    """Put MLflow back in line with the governed record (admins only; audited). Returns what differed."""
    with job_run(ctx, job="registry_reconcile", actor=actor) as run:
        run.authorize(Action.MANAGE_ACCESS, object_type="registry", object_id=ctx.registry.tracking_uri)
        found = divergences(ctx)
        for model in dict.fromkeys(d.model for d in found):
            mirror_model(ctx, model)
        run.audit(
            action=AuditAction.RECONCILE_REGISTRY,
            object_type="registry",
            object_id=ctx.registry.tracking_uri,
            reason=f"restored {len(found)} aliases and tags from the governed record",
            details={"divergences": [d.describe() for d in found[:100]]},
        )
    return RegistryCheck(ok=not found, divergences=tuple(found))
