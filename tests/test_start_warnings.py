"""What the gateway (daemon or replay) says as it starts about what it will never do right: take a stranger for a
customer (many IRKs), send a campaign's coupons (a segment no consenting customer has)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway.runtime import Runtime
from tests.test_recall_restart import config, loaded

__all__ = ["config"]  # the fixture, imported to be used here


def with_irk_customers(config: Path, n: int) -> None:
    rows = [
        {"customer_id": f"c{i}", "consent": True, "identifiers": [{"kind": "irk", "irk": f"{i + 1:032x}"}]}
        for i in range(n)
    ]
    (config.parent / "customers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize(("irks", "warned"), [(20, False), (2000, True)])
def test_the_daemon_names_the_chance_of_taking_a_stranger_for_a_customer_at_start(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, irks: int, warned: bool
) -> None:
    with_irk_customers(config, irks)
    caplog.set_level(logging.WARNING, logger="gateway.runtime")
    Runtime(loaded(config, tmp_path / "state")).close()
    said = [r.getMessage() for r in caplog.records if "by chance" in r.getMessage()]
    if warned:
        assert len(said) == 1 and "in 8,388 matches one of those keys by chance" in said[0]
    else:
        assert said == []


def test_a_campaign_for_a_segment_nobody_has_is_named_at_start(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`campaigns validate` said so; a replay that sent none of the campaign's coupons said nothing."""
    campaigns = config / "campaigns.toml"
    campaigns.write_text(
        campaigns.read_text() + '\n[[campaign]]\nid = "wine"\nzone = "coffee"\nsegments = ["sommelier"]\n'
    )
    caplog.set_level(logging.WARNING, logger="gateway.runtime")
    Runtime(loaded(config, tmp_path / "state")).close()
    said = [r.getMessage() for r in caplog.records if "campaign 'wine'" in r.getMessage()]
    assert len(said) == 1 and "segments: no customer has segment 'sommelier'" in said[0]
