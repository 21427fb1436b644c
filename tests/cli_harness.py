"""The `mlgov` command line run in-process on one home, with the checks every CLI test makes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from pipelines.cli import main


class Cli:
    """`env` adds variables (MLFLOW_TRACKING_URI, MLGOV_ARTIFACTS, ...) to MLGOV_HOME for every command."""

    def __init__(self, home: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.env = {"MLGOV_HOME": str(home), **(env or {})}
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Result:
        result = self.runner.invoke(main, list(args), input=input, env=self.env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def refused(self, *args: str, input: str | None = None, needle: str) -> str:
        """Run a command that must fail: one `error:` line naming `needle`, no traceback; the message."""
        result = self(*args, input=input, ok=False)
        assert result.exit_code != 0
        message = result.stderr.strip()
        assert message.startswith("error: "), (message, result.exit_code, repr(result.exception), result.stdout)
        assert "\n" not in message, message
        assert "Traceback" not in message, message
        assert needle.lower() in message.lower(), message
        return message
