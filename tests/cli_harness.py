"""The `mlgov` command line run in-process on one home, with the checks every CLI test makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from pipelines.cli import main


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Result:
        result = self.runner.invoke(
            main, list(args), input=input, env={"MLGOV_HOME": str(self.home)}, catch_exceptions=False
        )
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
        assert message.startswith("error: "), message
        assert "\n" not in message, message
        assert "Traceback" not in message, message
        assert needle.lower() in message.lower(), message
        return message
