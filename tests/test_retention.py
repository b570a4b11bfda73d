"""history.db lets go of what gateway.toml's retention says is old, by advertisement time, but never a trigger a
campaign's cooldown still reads, and not on the word of a wall clock that has just stepped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway.adverts import Advert
from gateway.campaigns.history import TriggerRecord
from gateway.delivery.outbox import OutboxEntry
from gateway.runtime import PRUNE_EVERY_S, Runtime
from tests.test_recall_restart import ADDRS, T0, config, loaded, shop

__all__ = ["config"]  # the fixture, imported to be used here

DAY = 86_400.0


def retention_of_a_day(config: Path) -> None:
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace("retention_days = 90", "retention_days = 1"))


def walk_past(rt: Runtime, t0: float, seconds: float) -> None:
    """Someone recognised passes the entrance every 10 s: advertisement time moves on, and the runtime flushes."""
    rx = rt.loaded.zones.receivers[0]
    t = t0
    while t < t0 + seconds:
        rt.handle(Advert(t, rx, ADDRS["cust-2"], -60))
        rt.flush()
        t += 10.0


def test_what_the_retention_lets_go_leaves_history_and_what_a_cooldown_needs_stays(
    config: Path, tmp_path: Path
) -> None:
    retention_of_a_day(config)
    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        shop(rt, "cust-1", -8.0, T0)  # stays and a learnt phone offset
        # coupons of a campaign: the longest cooldown in config/campaigns.toml is a week
        for k, days in enumerate((0.0, 5.0)):
            rt.history.add_trigger(TriggerRecord(f"t{k}", "cust-1", "produce-then-checkout", T0 + days * DAY, "v", "d"))
        before = rt.history.export_customer("cust-1")
        assert before["stays"] and before["phone_offset"] is not None

        walk_past(rt, T0 + 8 * DAY, 120.0)
        after = rt.history.export_customer("cust-1")
        assert after["stays"] == [] and after["phone_offset"] is None  # eight days old, the retention is one
        # eight days old: past the week's cooldown too; three days old: kept, or the coupon could go out again
        assert [r["trigger_id"] for r in after["triggers"]] == ["t1"]
        assert rt.pipeline.tracker.recall.recall("cust-1") is None  # nor is it kept in memory
    finally:
        rt.close()


def test_a_step_of_the_wall_clock_holds_pruning_back_for_an_hour(config: Path, tmp_path: Path) -> None:
    retention_of_a_day(config)
    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        shop(rt, "cust-1", -8.0, T0)
        assert rt.pipeline.last_t is not None
        rt.clock_stepped(rt.pipeline.last_t, 30 * DAY)  # e.g. a Pi whose clock was a month behind catches up
        walk_past(rt, T0 + 30 * DAY, PRUNE_EVERY_S - 60.0)
        assert rt.history.export_customer("cust-1")["stays"]  # not yet: the new clock has not run an hour
        walk_past(rt, T0 + 30 * DAY + PRUNE_EVERY_S, 60.0)
        assert rt.history.export_customer("cust-1")["stays"] == []
    finally:
        rt.close()


def consent_until(config: Path, customer: str, end: float) -> None:
    """The customers file gives `customer` consent until `end` (SPEC 6's record with the registry's `expires_at`)."""
    people = config.parent / "customers.jsonl"
    rows = [json.loads(line) for line in people.read_text().splitlines()]
    for row in rows:
        if row["customer_id"] == customer:
            row["expires_at"] = end
    people.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_consent_that_expires_takes_the_customers_history_with_it_within_the_hour(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    consent_until(config, "cust-1", T0 + DAY)
    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        shop(rt, "cust-1", -8.0, T0)
        shop(rt, "cust-2", 0.0, T0 + 600)
        rt.outbox.put_many([OutboxEntry("m1", "proximity/s/triggers/c", {"customer_id": "cust-1"}, "cust-1")])
        walk_past(rt, T0 + 2 * PRUNE_EVERY_S, 60.0)  # housekeeping while the consent still holds: nothing goes
        assert rt.history.export_customer("cust-1")["stays"]
        assert "cust-1" in rt.outbox.customer_ids()

        caplog.set_level(logging.INFO, logger="gateway.runtime")
        walk_past(rt, T0 + DAY, PRUNE_EVERY_S + 60.0)  # the first hour after the consent ended
        gone = rt.history.export_customer("cust-1")
        assert gone["stays"] == [] and gone["phone_offset"] is None
        assert "cust-1" not in rt.outbox.customer_ids()  # its coupon is not sent after the consent ended
        assert rt.pipeline.tracker.recall.recall("cust-1") is None
        assert rt.history.export_customer("cust-2")["stays"]  # consent without an end date: kept
        assert any("consent expired: cust-1" in r.getMessage() for r in caplog.records)
    finally:
        rt.close()
    # the registry keeps the record (a renewal brings the customer back); a restart names nobody again
    caplog.clear()
    again = Runtime(loaded(config, tmp_path / "state"))
    try:
        walk_past(again, T0 + DAY + 2 * PRUNE_EVERY_S, PRUNE_EVERY_S + 60.0)
        assert not any("consent expired" in r.getMessage() for r in caplog.records)
    finally:
        again.close()


def test_a_gateway_started_after_a_consent_ended_erases_at_its_first_flush_not_an_hour_later(
    config: Path, tmp_path: Path
) -> None:
    """Housekeeping first ran an hour of advertisement time after the start: a gateway restarted more often kept an
    ended consent's history (and what the retention lets go) indefinitely."""
    consent_until(config, "cust-1", T0 + DAY)
    first = Runtime(loaded(config, tmp_path / "state"))
    shop(first, "cust-1", -8.0, T0)
    first.close()

    again = Runtime(loaded(config, tmp_path / "state"))
    try:
        assert again.history.export_customer("cust-1")["stays"]
        walk_past(again, T0 + 2 * DAY, 60.0)  # a minute of the next morning
        assert again.history.export_customer("cust-1")["stays"] == []
    finally:
        again.close()


def test_a_revocation_imported_while_the_gateway_is_stopped_erases_the_history_at_once(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`customers revoke` erased the history with the daemon stopped; a `"consent": false` row imported with
    `customers import` only took the keys, and the history waited for the daemon's next start."""
    from typer.testing import CliRunner

    from gateway.cli_customers import customers_app

    state = tmp_path / "state"
    rt = Runtime(loaded(config, state))
    shop(rt, "cust-1", -8.0, T0)
    rt.close()
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(state))
    revoked = tmp_path / "revoke.jsonl"
    revoked.write_text(json.dumps({"customer_id": "cust-1", "consent": False}) + "\n")
    result = CliRunner().invoke(customers_app, ["import", str(revoked), "--config", str(config)])
    assert result.exit_code == 0, result.output
    from gateway.campaigns.history import SqliteHistory

    history = SqliteHistory(state / "history.db")
    try:
        gone = history.export_customer("cust-1")
        assert gone["stays"] == [] and gone["phone_offset"] is None
    finally:
        history.close()


def test_a_data_request_export_holds_the_messages_still_queued(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker away: the customer's presence events wait in outbox.db, which revocation deletes as theirs, but
    `customers export` ("everything the gateway holds about one customer") left them out. The outbox file, made
    wider by a copy or a restore, is also tightened back to 0600 when opened, as history.db is."""
    import stat

    from typer.testing import CliRunner

    from gateway.cli_customers import customers_app

    state = tmp_path / "state"
    rt = Runtime(loaded(config, state))
    shop(rt, "cust-1", -8.0, T0)  # no broker here: everything stays queued
    queued = rt.outbox.depth()
    rt.close()
    assert queued > 0
    (state / "outbox.db").chmod(0o644)
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(state))
    result = CliRunner().invoke(customers_app, ["export", "cust-1", "--config", str(config)])
    assert result.exit_code == 0, result.output
    messages = json.loads(result.stdout)["queued_messages"]
    assert len(messages) == queued and {m["payload"]["customer_id"] for m in messages} == {"cust-1"}
    assert all(m["topic"].startswith("proximity/") and m["state"] == "queued" for m in messages)
    assert stat.S_IMODE((state / "outbox.db").stat().st_mode) == 0o600  # the export opened it
