"""Every console the CLIs print through writes "FILE:100:" as written: rich's default reads ":100:" (and
":1234:", ":x:", ":o:") as emoji codes, so a bad line 100 was reported as "scans.jsonl💯"."""

from __future__ import annotations

import pytest
from rich.console import Console

from gateway import cli, cli_calibrate, cli_campaigns, cli_customers, cli_record
from simulator import cli as sim_cli

CONSOLES = {
    "proximity-gateway err": cli.err,
    "proximity-gateway out": cli.out,
    "calibrate err": cli_calibrate._err,
    "calibrate out": cli_calibrate._out,
    "campaigns err": cli_campaigns._err,
    "campaigns out": cli_campaigns._out,
    "customers err": cli_customers._err,
    "customers out": cli_customers._out,
    "record err": cli_record.err,
    "record live": cli_record.live_err,
    "proximity-sim err": sim_cli.err,
    "proximity-sim out": sim_cli.out,
}


@pytest.mark.parametrize("name", sorted(CONSOLES))
def test_line_numbers_and_words_between_colons_are_printed_as_written(name: str) -> None:
    console: Console = CONSOLES[name]
    text = "warning: scans.jsonl:100: not valid JSON; campaigns.toml:1234: zone :x: unknown"
    with console.capture() as captured:
        console.print(text, markup=False)
    assert captured.get().strip() == text
