"""The names an audit record's `action` and `outcome` take: one enum, so a filter, a report or a
test can name them without guessing a string. A refused request is recorded under the permission it
asked for (`governance.roles.Action`), with the outcome `refused`."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    INGEST = "ingest"
    TRAIN = "train"
    SCORE = "score"
    LOAD_LABELS = "load_labels"
    MONITOR = "monitor"
    REQUEST_PROMOTION = "request_promotion"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW_PROMOTION = "withdraw_promotion"
    PROMOTE = "promote"
    BREAK_GLASS_PROMOTION = "break_glass_promotion"
    ROLLBACK = "rollback"
    SET_MODEL_POLICY = "set_model_policy"
    SET_APPROVAL_POLICY = "set_approval_policy"
    REGISTRY_DIVERGENCE = "registry_divergence"
    RECONCILE_REGISTRY = "reconcile_registry"
    MIGRATE = "migrate"
    RESTORE_PROJECTION = "restore_projection"
    EXPORT_EVIDENCE = "export_evidence"
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"
    ADD_USER = "add_user"
    SET_PASSWORD = "set_password"  # noqa: S105 (the name of an action, not a password)
    LOGIN = "login"
    LOCK_ACCOUNT = "lock_account"
    UNLOCK_ACCOUNT = "unlock_account"
    MAINTAIN_TABLES = "maintain_tables"
    SET_ALERT_RULE = "set_alert_rule"
    REMOVE_ALERT_RULE = "remove_alert_rule"
    ACKNOWLEDGE_ALERT = "acknowledge_alert"
    RESOLVE_ALERT = "resolve_alert"
    FILL_FEATURE_TABLE = "fill_feature_table"  # created or refilled from its source table (features create)
    DISABLE_USER = "disable_user"  # an admin stops an account signing in and ends its sessions
    ENABLE_USER = "enable_user"


class AuditOutcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
