"""The mlgov command line. Every command prints one clear line on failure and exits non-zero.

One module per command group; this one builds the `mlgov` group and registers them.
"""

from __future__ import annotations

import click

from pipelines.cli.access import access, init, migrate
from pipelines.cli.alerts import alerts
from pipelines.cli.app import app, demo
from pipelines.cli.audit import audit
from pipelines.cli.data import ingest, labels
from pipelines.cli.features import features
from pipelines.cli.lineage import evidence, lineage
from pipelines.cli.maintain import maintain
from pipelines.cli.monitoring import monitor, shadow
from pipelines.cli.promote import history, model, promote
from pipelines.cli.registry import policy, registry
from pipelines.cli.scoring import score
from pipelines.cli.serving import serve, serve_batch
from pipelines.cli.support import MlgovGroup
from pipelines.cli.training import register, retrain_command, train
from pipelines.cli.users import login, users


@click.group(cls=MlgovGroup)
def main() -> None:
    """Model governance and monitoring over a Delta Lake lakehouse (MLGOV_HOME, default ./.mlgov)."""


for command in (init, access, users, login, ingest, labels, train, register, retrain_command, model, promote, history):
    main.add_command(command)
for command in (score, monitor, shadow, lineage, evidence, audit, registry, policy, migrate, demo, app, alerts):
    main.add_command(command)
main.add_command(maintain)
main.add_command(features)
for command in (serve, serve_batch):
    main.add_command(command)
