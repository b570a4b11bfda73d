"""A full disk stops nothing: history rows wait in memory and are written once space returns."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from gateway.campaigns.history import HistoryError, SqliteHistory, StayRecord, TriggerRecord


def fill_up(history: SqliteHistory) -> None:
    pages = history.db.execute("PRAGMA page_count").fetchone()[0]
    history.db.execute(f"PRAGMA max_page_count = {pages}")  # the next page the file needs is refused


def test_history_holds_rows_while_the_disk_is_full_and_writes_them_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    fill_up(history)
    big = "x" * 3000  # bigger than a page: must need a new one
    for i in range(5):
        history.add_trigger(TriggerRecord(f"t{i}{big}", "cust-1", "coffee-10", 100.0 + i, "v1", "2026-11-28"))
        history.add_stay(StayRecord("cust-1", "v1", "coffee", 50.0, 120.0 + i))
    history.put_offsets("zones-digest" + big * 2, [("cust-1", (-6.0, 2.0, 120.0))])
    history.flush()
    assert history.last_error is not None and "cannot write" in history.last_error
    assert history.triggers_of("cust-1", 0.0) == []
    assert history.db.execute("select count(*) from offsets").fetchone()[0] == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # said once, not once per row

    history.db.execute("PRAGMA max_page_count = 1073741823")  # space comes back
    history.flush()
    assert history.last_error is None
    assert len(history.triggers_of("cust-1", 0.0)) == 5
    assert len(history.export_customer("cust-1")["stays"]) == 5
    assert history.export_customer("cust-1")["phone_offset"] == {"mean_db": -6.0, "var_db2": 2.0, "learnt_at": 120.0}
    history.close()


def test_revocation_reaches_rows_still_held_in_memory(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "history.db")
    fill_up(history)
    history.add_trigger(TriggerRecord("t" * 3000, "cust-1", "coffee-10", 100.0, "v1", "2026-11-28"))
    history.delete_customer("cust-1")
    history.db.execute("PRAGMA max_page_count = 1073741823")
    history.flush()
    assert history.customer_ids() == set()
    history.close()


def test_runtime_holds_events_while_the_outbox_is_full_then_queues_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scanning goes on through a full disk; the triggers wait in memory (bounded) and reach the outbox after."""
    import shutil

    from gateway import runtime as runtime_mod
    from gateway.runtime import Runtime
    from gateway.setup import load_config_dir
    from gateway.sources.recording import read_recording

    demo = Path(__file__).resolve().parent.parent / "demo"
    shutil.copytree(demo, tmp_path / "demo")
    monkeypatch.setenv("PROXIMITY_MQTT__URL", "mqtt://127.0.0.1:9")  # never connected: only the outbox matters
    rt = Runtime(load_config_dir(tmp_path / "demo" / "config"))
    pages = rt.outbox.db.execute("PRAGMA page_count").fetchone()[0]
    rt.outbox.db.execute(f"PRAGMA max_page_count = {pages}")
    _, adverts, _ = read_recording(tmp_path / "demo" / "scans.jsonl.gz")
    rt.handle_many(adverts)
    rt.finish()
    queued = rt.outbox.depth()  # the batch's triggers tried the outbox at once: the first fitted
    produced = len(rt._pending)
    assert produced > 0
    errors = rt.outbox_errors
    assert rt.flush() == 0 and rt.outbox_errors == errors + 1 and len(rt._pending) == produced
    assert rt.pipeline.stats.adverts == len(adverts)  # the pipeline kept going
    held = {e.message_id for e in rt._pending if e.topic_suffix.startswith("triggers/")}
    written = {r[0] for r in rt.history.db.execute("select trigger_id from triggers").fetchall()}
    assert held and not held & written  # a trigger still in memory is not "sent" in the caps' history

    monkeypatch.setattr(runtime_mod, "MAX_HELD_EVENTS", 3)
    rt.flush()
    triggers = [e for e in rt._pending if e.topic_suffix.startswith("triggers/")]
    assert len(rt._pending) == 3 and rt.events_dropped == produced - 3
    assert triggers  # coupons outlive presence events when memory must be shed

    rt.outbox.db.execute("PRAGMA max_page_count = 1073741823")
    assert rt.flush() == 3 and rt.outbox.depth() == queued + 3
    rt.close()


def test_a_history_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    """The store's IT team needs the file to move aside, not 'DatabaseError: file is not a database'."""
    path = tmp_path / "history.db"
    path.write_bytes(b"this was never a database" * 100)
    with pytest.raises(HistoryError, match=f"^{re.escape(str(path))}: not a usable history database: "):
        SqliteHistory(path)


def test_a_trigger_the_process_dies_on_before_the_outbox_is_decided_again_and_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC 7: a killed gateway delays triggers, never loses them. The caps' history was written the moment a
    trigger was decided, the outbox only at the runtime's next flush: a kill in between left a history saying "sent
    this visit" and no message, so the coupon was never decided again (a review sweep)."""
    import shutil

    from gateway.campaigns.events import Trigger
    from gateway.runtime import Runtime
    from gateway.setup import load_config_dir
    from gateway.sources.recording import read_recording

    shutil.copytree(Path(__file__).resolve().parent.parent / "demo", tmp_path / "demo")
    monkeypatch.setenv("PROXIMITY_MQTT__URL", "mqtt://127.0.0.1:9")  # never connected: only the stores matter
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "demo" / "config"
    _, adverts, _ = read_recording(tmp_path / "demo" / "scans.jsonl.gz")
    first = Runtime(load_config_dir(config))
    decided = None
    for adv in adverts:  # the engine decides; the process dies before the runtime flushes
        decided = next((e for e in first.pipeline.process(adv) if isinstance(e, Trigger)), None)
        if decided is not None:
            break
    assert decided is not None
    first._lock.close()  # what the kill does to the lock; nothing is flushed or closed

    again = Runtime(load_config_dir(config))
    try:
        again.handle_many(adverts)
        again.finish()
        again.flush()
        assert decided.trigger_id in {row.msg_id for row in again.outbox.pending(10_000)}
    finally:
        again.close()


def test_a_revocation_notice_outlives_presence_when_memory_is_shed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation made on this gateway's CLI is passed on to the store's other receivers (SPEC 6); while the
    outbox could not be written, shedding took it for a presence event and dropped it first, and the newest
    events went before the oldest."""
    import shutil

    from gateway import runtime as runtime_mod
    from gateway.delivery.outbox import OutboxError
    from gateway.runtime import RevocationNotice, Runtime
    from gateway.setup import load_config_dir
    from gateway.sources.recording import read_recording

    demo = Path(__file__).resolve().parent.parent / "demo"
    shutil.copytree(demo, tmp_path / "demo")
    monkeypatch.setenv("PROXIMITY_MQTT__URL", "mqtt://127.0.0.1:9")
    rt = Runtime(load_config_dir(tmp_path / "demo" / "config"))

    def disk_full(items: object) -> int:
        raise OutboxError("outbox.db: cannot write: database or disk is full")

    monkeypatch.setattr(rt.outbox, "put_many", disk_full)
    _, adverts, _ = read_recording(tmp_path / "demo" / "scans.jsonl.gz")
    rt.handle_many(adverts)
    rt.finish()
    rt.flush()
    held = list(rt._pending)
    presence = [e for e in held if e.topic_suffix == "presence"]
    assert len(presence) >= 2

    # one more than the presence events can make room for: a coupon goes before the notice does
    monkeypatch.setattr(runtime_mod, "MAX_HELD_EVENTS", len(held) - len(presence))
    notice = RevocationNotice("cust-0003", adverts[-1].t)
    assert rt.enqueue([notice]) == 0
    assert rt._pending[-1] == notice  # kept, and after what was held before it
    assert not any(e.topic_suffix == "presence" for e in rt._pending)
    assert rt.events_dropped == len(presence) + 1
    rt.close()
