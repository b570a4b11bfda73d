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
