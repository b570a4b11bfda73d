"""What the gateway (daemon or replay) says as it starts about what it will never do right: take a stranger for a
customer (many IRKs), send a campaign's coupons (a segment no consenting customer has); and a state directory it
cannot write to, which it must survive rather than die of."""

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


def test_a_health_file_that_cannot_be_written_does_not_end_the_gateway(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk: the outbox kept its events in memory to retry, then the health file's write raised and the
    process exited 1, losing them (a sweep: 5 of 11 triggers delivered)."""
    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        rt.write_health()
        before = (tmp_path / "state" / "health.json").read_text()
        (tmp_path / "state" / "health.tmp").mkdir()  # writing it now fails as a full disk's write does: OSError
        caplog.set_level(logging.WARNING, logger="gateway.runtime")
        rt.write_health()
        assert (tmp_path / "state" / "health.json").read_text() == before  # the last one written stands
        assert any("health file" in r.getMessage() and "not written" in r.getMessage() for r in caplog.records)
    finally:
        rt.close()


def test_events_the_outbox_cannot_take_are_counted_until_it_takes_them(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What replay reports as lost with the run when the disk stays full (it said "still queued in outbox.db" and
    "sent by the next run" of events that never reached the file)."""
    from gateway.delivery.outbox import Outbox, OutboxError
    from tests.test_recall_restart import T0, shop

    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        real = Outbox.put_many

        def full(self: Outbox, items: object) -> int:
            raise OutboxError("outbox: cannot write: disk full (database or disk is full)")

        monkeypatch.setattr(Outbox, "put_many", full)
        shop(rt, "cust-1", 0.0, T0)  # presence events at least: enter and exit, coffee and bakery
        held = rt.held_in_memory
        assert held > 0 and rt.queued_events == 0
        monkeypatch.setattr(Outbox, "put_many", real)  # space again
        rt.flush()
        assert rt.held_in_memory == 0 and rt.queued_events == held
    finally:
        rt.close()
