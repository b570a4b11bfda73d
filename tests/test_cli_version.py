"""`--version`, which both CLIs' --help offer ("Print the version and exit."), prints the version and exits 0."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from gateway import __version__
from gateway.cli import app as gateway_app
from simulator.cli import app as sim_app


@pytest.mark.parametrize("app", [gateway_app, sim_app], ids=["proximity-gateway", "proximity-sim"])
def test_version_prints_the_version_and_exits_0(app: typer.Typer) -> None:
    # it used to stop with "Missing command." and exit 2: the option was read only once a command ran
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert __version__ in result.stdout
