"""Revocation reaches every store of the gateway, whether or not the daemon is running."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.campaigns.history import SqliteHistory, StayRecord, TriggerRecord
from gateway.cli import app
from gateway.delivery.outbox import Outbox
from gateway.identity.registry import Registry
from gateway.privacy import purge_revoked

EXAMPLE = Path(__file__).resolve().parent.parent / "config"


def customer(cid: str, n: int) -> dict[str, object]:
    return {
        "customer_id": cid,
        "consent": True,
        "segments": ["coffee"],
        "identifiers": [{"kind": "address", "address": f"C0:11:22:33:44:{n:02X}"}],
    }


@pytest.fixture
def state(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLE, config, ignore=shutil.ignore_patterns("state"))
    state_dir = config / "state"
    state_dir.mkdir()
    people = tmp_path / "customers.jsonl"
    people.write_text("\n".join(json.dumps(customer(c, i)) for i, c in enumerate(["cust-a", "cust-b"])) + "\n")
    with Registry(state_dir / "registry.db") as reg:
        reg.import_file(people)
    history = SqliteHistory(state_dir / "history.db")
    outbox = Outbox(state_dir / "outbox.db")
    for cid in ("cust-a", "cust-b"):
        history.add_trigger(TriggerRecord(f"t-{cid}", cid, "coffee-10", 100.0, f"v-{cid}", "2026-11-28"))
        history.add_stay(StayRecord(cid, f"v-{cid}", "coffee", 50.0, 120.0))
        outbox.put(f"m-{cid}", "proximity/store-042/triggers/coffee-10", {"customer_id": cid}, cid)
    history.flush()
    history.close()
    outbox.close()
    return config, state_dir


def test_revoke_from_the_cli_erases_history_and_queued_messages(state: tuple[Path, Path]) -> None:
    config, state_dir = state
    result = CliRunner().invoke(app, ["customers", "revoke", "cust-a", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    history = SqliteHistory(state_dir / "history.db")
    outbox = Outbox(state_dir / "outbox.db")
    try:
        assert history.customer_ids() == {"cust-b"}
        assert [m.customer_id for m in outbox.pending(10)] == ["cust-b"]
    finally:
        history.close()
        outbox.close()
    raw = b"".join(p.read_bytes() for p in state_dir.glob("history.db*"))
    assert b"cust-a" not in raw  # overwritten, not merely unlinked from the b-tree


def test_export_covers_registry_and_history_without_keys(state: tuple[Path, Path]) -> None:
    config, _ = state
    result = CliRunner().invoke(app, ["customers", "export", "cust-b", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["history"], data
    assert "coffee" in json.dumps(data["history"])


def test_purge_at_start_erases_customers_revoked_while_stopped(state: tuple[Path, Path]) -> None:
    _, state_dir = state
    with Registry(state_dir / "registry.db") as reg:
        reg.revoke("cust-b")  # straight in the registry, as another tool or an old version might
        consenting = {c.customer_id for c in reg.consenting()}
    history = SqliteHistory(state_dir / "history.db")
    outbox = Outbox(state_dir / "outbox.db")
    try:
        assert purge_revoked(history, outbox, consenting) == ["cust-b"]
        assert history.customer_ids() == {"cust-a"}
        assert {m.customer_id for m in outbox.pending(10)} == {"cust-a"}
    finally:
        history.close()
        outbox.close()


def test_a_revocation_that_stopped_half_way_is_finished_by_the_next_revoke_and_at_start(
    state: tuple[Path, Path],
) -> None:
    """The registry said 'revoked' and the history was gone, but the outbox could not be opened: its queued
    messages for the customer were later published (the next revoke said 'already revoked' and stopped, and
    the start-up purge looked at the history only)."""
    config, state_dir = state
    real = state_dir / "outbox.db"
    kept = state_dir.parent / "outbox.keep"
    real.rename(kept)
    real.write_bytes(b"not a database" * 100)
    runner = CliRunner()
    first = runner.invoke(app, ["customers", "revoke", "cust-a", "--config", str(config)])
    assert first.exit_code == 1
    real.unlink()
    kept.rename(real)
    with Registry(state_dir / "registry.db") as reg:
        consenting = {c.customer_id for c in reg.consenting()}
    assert consenting == {"cust-b"}
    history = SqliteHistory(state_dir / "history.db")
    outbox = Outbox(state_dir / "outbox.db")
    try:
        assert "cust-a" not in history.customer_ids()  # erased before the outbox failed
        assert "cust-a" in outbox.customer_ids()
        assert purge_revoked(history, outbox, consenting) == ["cust-a"]
        assert outbox.customer_ids() == {"cust-b"}
        outbox.put("m-again", "proximity/store-042/triggers/coffee-10", {"customer_id": "cust-a"}, "cust-a")
    finally:
        history.close()
        outbox.close()
    again = runner.invoke(app, ["customers", "revoke", "cust-a", "--config", str(config)])
    assert again.exit_code == 0
    assert "already revoked; 1 queued messages deleted" in again.stdout
    outbox = Outbox(state_dir / "outbox.db")
    try:
        assert outbox.customer_ids() == {"cust-b"}
    finally:
        outbox.close()


def test_a_customer_who_consented_to_analytics_alone_gets_no_coupons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A record's `purpose` was stored and exported but never read: a customer who agreed to analytics only was
    tracked and sent coupons like any other (a code-reading review)."""
    import json
    import logging
    import shutil

    from gateway.runtime import Runtime
    from gateway.setup import load_config_dir
    from gateway.sources.recording import read_recording

    demo = Path(__file__).resolve().parent.parent / "demo"
    shutil.copytree(demo, tmp_path / "demo")
    rows = [json.loads(line) for line in (tmp_path / "demo" / "customers.jsonl").read_text().splitlines()]
    rows[0]["purpose"] = "analytics"
    (tmp_path / "demo" / "customers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("PROXIMITY_MQTT__URL", "mqtt://127.0.0.1:9")
    _, adverts, _ = read_recording(tmp_path / "demo" / "scans.jsonl.gz")

    def customers_with_events(purposes: str | None, state: str) -> set[str]:
        monkeypatch.setenv("PROXIMITY_STATE_DIR", str(tmp_path / state))
        if purposes is not None:
            monkeypatch.setenv("PROXIMITY_RECOGNITION__PURPOSES", purposes)
        rt = Runtime(load_config_dir(tmp_path / "demo" / "config"))
        try:
            rt.handle_many(adverts)
            rt.finish()
            rt.flush()
            return {str(r[0]) for r in rt.outbox.db.execute("select customer_id from outbox").fetchall()}
        finally:
            rt.close()

    with caplog.at_level(logging.WARNING, logger="gateway.runtime"):
        marketing_only = customers_with_events(None, "a")
    assert rows[0]["customer_id"] not in marketing_only and len(marketing_only) >= 5
    assert "1 consenting customers gave consent for another purpose ('analytics': 1)" in caplog.text
    both = customers_with_events('["marketing", "analytics"]', "b")
    assert both == marketing_only | {rows[0]["customer_id"]}


async def test_consent_narrowed_to_analytics_erases_what_was_kept_for_coupons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consent message changing a customer's purpose from marketing to analytics only took them out of the
    resolver: their queued coupons were still published later, and their stays kept (a review of the diff)."""
    import json
    import shutil

    from gateway.runtime import Runtime
    from gateway.setup import load_config_dir
    from gateway.sources.recording import read_recording

    demo = Path(__file__).resolve().parent.parent / "demo"
    shutil.copytree(demo, tmp_path / "demo")
    monkeypatch.setenv("PROXIMITY_MQTT__URL", "mqtt://127.0.0.1:9")
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(tmp_path / "state"))
    rt = Runtime(load_config_dir(tmp_path / "demo" / "config"))
    try:
        _, adverts, _ = read_recording(tmp_path / "demo" / "scans.jsonl.gz")
        rt.handle_many(adverts)
        rt.finish()
        rt.flush()
        queued = {str(r[0]) for r in rt.outbox.db.execute("select customer_id from outbox").fetchall()}
        record = json.loads((tmp_path / "demo" / "customers.jsonl").read_text().splitlines()[0])
        who = record["customer_id"]
        assert who in queued and who in rt.history.customer_ids()
        await rt.on_consent({**record, "purpose": "analytics"})
        left = {str(r[0]) for r in rt.outbox.db.execute("select customer_id from outbox").fetchall()}
        assert left == queued - {who} and who not in rt.history.customer_ids()
        assert who not in rt.pipeline.resolver.customer_ids()
    finally:
        rt.close()
