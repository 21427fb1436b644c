"""Table maintenance rules: which tables may lose history to vacuum, and which versions must survive it.

Compaction and checkpoints never remove history (the log still holds every version, and every
version's files stay where they are). Vacuum deletes the files of old versions, so it is allowed only
where no governance promise rests on them: never on a governance table (the audit chain's seals name
its Delta versions, and evidence packs cite them), and elsewhere only keeping every version lineage
points at (a model's training table@version, a batch's input table@version) plus Delta's own
retention window for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

GOVERNANCE_PREFIX = "governance/"
# Delta's default `deletedFileRetentionDuration`: time travel to any version of the last week keeps working.
VACUUM_RETENTION_HOURS = 168
_TABLE_VERSION = re.compile(r"(?P<table>.+)@(?P<version>\d+)")


def may_vacuum(table: str) -> bool:
    """Whether vacuum may delete `table`'s unreferenced old files (never a governance table's)."""
    return not table.startswith(GOVERNANCE_PREFIX)


def versions_to_keep(references: Iterable[str]) -> Mapping[str, tuple[int, ...]]:
    """The versions vacuum must keep, by table, from lineage references like 'raw/loans@3'."""
    kept: dict[str, set[int]] = {}
    for reference in references:
        match = _TABLE_VERSION.fullmatch(reference)
        if match:
            kept.setdefault(match.group("table"), set()).add(int(match.group("version")))
    return {table: tuple(sorted(versions)) for table, versions in kept.items()}
