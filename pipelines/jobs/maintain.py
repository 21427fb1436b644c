"""mlgov maintain: compact every table's small files, checkpoint its log, and vacuum where no
governance promise or lineage reference needs the old files (the rules are `governance.maintenance`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from governance.audit.actions import AuditAction
from governance.maintenance import VACUUM_RETENTION_HOURS, may_vacuum, versions_to_keep
from governance.roles import Action
from lakehouse.delta import TableMaintenance
from lakehouse.schemas import LINEAGE, PREDICTIONS, VERSIONS
from pipelines.context import Context, job_run

_LINEAGE_TABLE_KIND = "table"  # a lineage node that is a table@version


@dataclass(frozen=True)
class MaintainResult:
    run_id: str
    tables: tuple[TableMaintenance, ...]

    def document(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "retention_hours": VACUUM_RETENTION_HOURS,
            "tables": [asdict(t) for t in self.tables],
        }


def referenced_versions(ctx: Context) -> list[str]:
    """Every table@version something governed points at: lineage edges, scoring inputs, training data."""
    lineage = ctx.store.scan(LINEAGE)
    ends = pl.concat(
        [
            lineage.filter(pl.col("src_type") == _LINEAGE_TABLE_KIND).select(pl.col("src_id").alias("ref")),
            lineage.filter(pl.col("dst_type") == _LINEAGE_TABLE_KIND).select(pl.col("dst_id").alias("ref")),
            ctx.store.scan(PREDICTIONS).select(pl.format("{}@{}", "input_table", "input_version").alias("ref")),
            ctx.store.scan(VERSIONS).select(pl.format("{}@{}", "train_table", "train_table_version").alias("ref")),
        ]
    )
    return ends.drop_nulls().unique().collect()["ref"].to_list()


def maintain_lakehouse(ctx: Context, *, actor: str) -> MaintainResult:
    """Maintain every table (admins only; audited). Safe to run while other jobs write."""
    where = str(ctx.settings.lakehouse_root)
    with job_run(ctx, job="maintain", actor=actor) as run:
        run.authorize(Action.MAINTAIN_TABLES, object_type="lakehouse", object_id=where)
        keep = versions_to_keep(referenced_versions(ctx))
        done = tuple(
            ctx.store.maintain(
                table,
                commit=run.commit,
                vacuum=may_vacuum(table),
                keep_versions=keep.get(table, ()),
                retention_hours=VACUUM_RETENTION_HOURS,
            )
            for table in ctx.store.storage.all_tables()
        )
        run.audit(
            action=AuditAction.MAINTAIN_TABLES,
            object_type="lakehouse",
            object_id=where,
            reason=f"compacted and checkpointed {len(done)} tables",
            details={
                "tables": {
                    t.table: {
                        "files_before": t.files_before,
                        "files_after": t.files_after,
                        "vacuumed": t.vacuumed_files,
                    }
                    for t in done
                }
            },
        )
    return MaintainResult(run_id=run.run_id, tables=done)
