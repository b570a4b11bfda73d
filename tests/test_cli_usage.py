"""Usage errors on both CLIs: one line on stderr naming the command and the problem, exit 2 (SPEC section 2);
help shown as written."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from gateway.cli import app as gateway_app
from simulator.cli import app as sim_app

runner = CliRunner()


@pytest.mark.parametrize(
    ("app", "args", "expected"),
    [
        (gateway_app, ["calibrate", "fit", "--fo", "x"], "calibrate fit: no such option: --fo"),
        (gateway_app, ["calibrate", "fit", "--truth", "t", "--out", "o"], "calibrate fit: missing option '--scans'"),
        (gateway_app, ["replay", "x.jsonl", "--speed", "fast"], "replay: invalid value for '--speed'"),
        (gateway_app, ["calibrate"], "calibrate: missing command"),
        (gateway_app, ["--bogus"], "no such option: --bogus"),
        (sim_app, ["generate", "--out", "d", "--shoppers", "many"], "generate: invalid value for '--shoppers'"),
        (sim_app, ["evaluate", "--scans", "s"], "evaluate: missing option '--truth'"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_problem(app: typer.Typer, args: list[str], expected: str) -> None:
    # it used to be a usage line, a "Try ... --help" line and the message in a box drawn over three more lines
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and expected in lines[0] and lines[0].endswith("(see --help)")
    assert r.stdout == ""


@pytest.mark.parametrize("app", [gateway_app, sim_app], ids=["proximity-gateway", "proximity-sim"])
def test_help_and_no_arguments_still_show_the_help(app: typer.Typer) -> None:
    shown = runner.invoke(app, ["--help"])
    assert shown.exit_code == 0 and "Usage:" in shown.stdout and "Commands" in shown.stdout
    assert "--debug" in shown.stdout  # taken anywhere on the line, so the root's help is where it is told
    bare = runner.invoke(app, [])
    assert bare.exit_code == 2 and "Usage:" in bare.stdout and "error:" not in bare.stderr


def test_help_shows_square_brackets_as_written() -> None:
    # rich took `[[receiver]]` for a markup tag and printed `[] id, x, y and [] name`
    shown = runner.invoke(gateway_app, ["calibrate", "fit", "--help"])
    assert shown.exit_code == 0
    assert "[[receiver]]" in shown.stdout and "[[zone]]" in shown.stdout
    assert "[]" not in shown.stdout
