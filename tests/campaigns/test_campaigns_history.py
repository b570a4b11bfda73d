"""SQLite history: a gateway restarted mid-day remembers what the caps need; revocation erases a customer."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from campaign_script import NO_CAPS, T0, leg, make_engine, triggers

from gateway.campaigns.history import SqliteHistory, StayRecord, TriggerRecord

COFFEE = {"id": "coffee", "zone": "coffee", "min_dwell_s": 10, "cooldown_s": 86400}


def test_cooldown_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    first = make_engine([COFFEE], history=SqliteHistory(db))
    assert len(triggers(first.feed("c1", leg("coffee", 0, 30), gone_at=40))) == 1
    first.engine.flush()  # the runtime's flush: the trigger is in the outbox, then in the history
    # then the process dies: a new engine over the same file
    second = make_engine([COFFEE], history=SqliteHistory(db))
    assert triggers(second.feed("c1", leg("coffee", 3600, 3700), gone_at=3710)) == []
    assert len(triggers(second.feed("c2", leg("coffee", 3600, 3700)))) == 1


def test_visit_caps_survive_a_restart_mid_visit(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    campaigns = [{"id": "a", "zone": "a", "min_dwell_s": 10}, {"id": "b", "zone": "b", "min_dwell_s": 10}]
    caps = {**NO_CAPS, "max_per_visit": 1}
    first = make_engine(campaigns, caps=caps, history=SqliteHistory(db))
    assert [t.campaign_id for t in triggers(first.feed("c1", leg("a", 0, 30)))] == ["a"]
    first.engine.flush()  # as the runtime does once the trigger is in the outbox
    second = make_engine(campaigns, caps=caps, history=SqliteHistory(db))
    # the customer is still in the store: same visit, its only slot is taken, and "a" is not sent twice
    assert triggers(second.feed("c1", leg("a", 60, 100))) == []
    assert triggers(second.feed("c1", leg("b", 101, 200))) == []


def test_budget_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    rule = [{"id": "a", "zone": "a", "min_dwell_s": 10, "budget_per_day": 1}]
    first = make_engine(rule, history=SqliteHistory(db))
    assert len(triggers(first.feed("c1", leg("a", 0, 30)))) == 1
    first.engine.flush()  # as the runtime does once the trigger is in the outbox
    assert triggers(make_engine(rule, history=SqliteHistory(db)).feed("c2", leg("a", 100, 130))) == []


def test_redemption_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}], history=SqliteHistory(db))
    h.engine.on_redemption({"trigger_id": "t1", "customer_id": "c1", "campaign_id": "a", "at": T0})
    h2 = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}], history=SqliteHistory(db))
    assert triggers(h2.feed("c1", leg("a", 0, 30))) == []


def test_database_is_private(tmp_path: Path) -> None:
    db = tmp_path / "state" / "history.db"
    h = SqliteHistory(db)
    h.add_trigger(TriggerRecord("t1", "c1", "a", T0, "v1", "2026-01-01"))
    h.close()
    for p in db.parent.iterdir():
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, p.name


def test_export_then_delete_customer(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}], history=history)
    for c in ("customer-revoked", "customer-kept"):
        h.feed(c, leg("a", 0, 30), gone_at=40)
    h.engine.on_redemption({"trigger_id": "t", "customer_id": "customer-revoked", "campaign_id": "a", "at": T0 + 50})
    exported = history.export_customer("customer-revoked")
    assert exported["customer_id"] == "customer-revoked"
    assert [r["campaign_id"] for r in exported["triggers"]] == ["a"]
    assert [r["campaign_id"] for r in exported["redemptions"]] == ["a"]
    assert [(s["zone"], s["start"], s["end"]) for s in exported["stays"]] == [("a", T0, T0 + 30)]
    history.delete_customer("customer-revoked")
    h.engine.forget("customer-revoked")
    empty = {"customer_id": "customer-revoked", "triggers": [], "redemptions": [], "stays": [], "phone_offset": None}
    assert history.export_customer("customer-revoked") == empty
    assert len(history.export_customer("customer-kept")["stays"]) == 1
    history.close()  # checkpoints the WAL into the main file
    raw = (tmp_path / "history.db").read_bytes()
    assert b"customer-kept" in raw and b"customer-revoked" not in raw  # overwritten, not just unlinked


def test_unflushed_stays_of_a_deleted_customer_are_not_written(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    history.add_stay(StayRecord("c1", "v", "a", T0, T0 + 1))
    history.delete_customer("c1")
    history.flush()
    assert history.export_customer("c1")["stays"] == []


def test_a_store_day_of_stays_is_written_in_batches(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    for i in range(1200):
        history.add_stay(StayRecord(f"c{i % 50}", "v", "a", T0 + i, T0 + i + 1))
    history.close()
    again = SqliteHistory(tmp_path / "history.db")
    assert sum(len(again.export_customer(f"c{i}")["stays"]) for i in range(50)) == 1200


def test_customers_revoked_while_the_gateway_was_down_can_be_found(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    history.add_trigger(TriggerRecord("t1", "kept", "a", T0, "v", "2026-01-01"))
    history.add_stay(StayRecord("revoked", "v", "a", T0, T0 + 1))  # still buffered: must count too
    assert history.customer_ids() == {"kept", "revoked"}
    for cid in history.customer_ids() - {"kept"}:
        history.delete_customer(cid)
    assert history.customer_ids() == {"kept"}


def test_prune_keeps_recent_history_and_redemptions(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}], history=history)
    h.feed("old", leg("a", 0, 30), gone_at=40)
    h.feed("new", leg("a", 90_000, 90_030), gone_at=90_040)
    h.engine.on_redemption({"trigger_id": "x", "customer_id": "old", "campaign_id": "a", "at": T0 + 50})
    assert history.prune(T0 + 86_400) == 2  # old's trigger and stay
    assert history.export_customer("old")["triggers"] == [] and history.export_customer("old")["stays"] == []
    assert len(history.export_customer("old")["redemptions"]) == 1
    assert len(history.export_customer("new")["triggers"]) == 1


def test_phone_offsets_survive_a_restart_under_the_same_zone_model_only(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    history.put_offsets("model-a", [("c1", (-6.5, 2.0, T0)), ("c2", (3.0, 1.0, T0))])
    history.put_offsets("model-a", [("c3", (1.0, 1.5, T0 + 60))])
    history.put_offsets("model-a", [("c2", None)])  # a later visit that learnt nothing
    history.close()  # written at close, like the stays
    again = SqliteHistory(tmp_path / "history.db")
    assert again.offsets("model-a", limit=10) == [("c1", -6.5, 2.0, T0), ("c3", 1.0, 1.5, T0 + 60)]  # oldest first
    assert again.offsets("model-a", limit=1) == [("c3", 1.0, 1.5, T0 + 60)]
    # zones.toml refitted: offsets relative to the old walk's device are of no use, and are not kept
    assert again.offsets("model-b", limit=10) == []
    assert again.offsets("model-a", limit=10) == []
    again.close()
    raw = (tmp_path / "history.db").read_bytes()
    assert b"model-a" not in raw


def test_a_phone_offset_is_exported_erased_and_pruned_with_the_rest(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    history.put_offsets("m", [("cust-old", (-2.0, 2.0, T0)), ("cust-kept", (1.0, 1.0, T0))])
    history.put_offsets("m", [("cust-new", (4.0, 1.0, T0 + 90_000))])
    # a customer revoked while the gateway was down is found by their offset alone (and while it is unwritten)
    assert history.customer_ids() == {"cust-old", "cust-kept", "cust-new"}
    assert history.export_customer("cust-old")["phone_offset"] == {"mean_db": -2.0, "var_db2": 2.0, "learnt_at": T0}
    history.put_offsets("m", [("cust-kept", (1.5, 1.0, T0 + 100))])
    history.delete_customer("cust-kept")  # before its update was written: the update must not bring it back
    history.flush()
    assert history.export_customer("cust-kept")["phone_offset"] is None
    assert history.prune(T0 + 86_400) == 1
    assert history.offsets("m", limit=10) == [("cust-new", 4.0, 1.0, T0 + 90_000)]
    history.close()
    raw = (tmp_path / "history.db").read_bytes()
    assert b"cust-kept" not in raw and b"cust-old" not in raw


def test_a_trigger_waiting_for_the_outbox_counts_for_the_caps_but_is_written_only_by_flush(tmp_path: Path) -> None:
    """The runtime puts a trigger in the outbox, then flushes the history: until then the caps still count it, and
    nothing else (a batch of stays, a reader) writes it to the file ahead of the outbox."""
    db = tmp_path / "history.db"
    h = SqliteHistory(db)
    h.add_trigger(TriggerRecord("t1", "c1", "a", T0, "v1", "2026-01-01"))
    for i in range(600):  # past a batch of stays, which is written on its own
        h.add_stay(StayRecord("c2", "v2", "z", T0 + i, T0 + i + 1))
    assert [r.trigger_id for r in h.triggers_of("c1", T0 - 1)] == ["t1"]
    assert h.campaign_day_count("a", "2026-01-01") == 1
    assert SqliteHistory(db).triggers_of("c1", T0 - 1) == []  # another process: not in the file yet
    h.flush()
    assert [r.trigger_id for r in SqliteHistory(db).triggers_of("c1", T0 - 1)] == ["t1"]
