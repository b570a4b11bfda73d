"""The pipeline keeps going when the outbox cannot be written, and catches up when it can."""

from __future__ import annotations

from pathlib import Path

from gateway.delivery.outbox import Outbox
from gateway.delivery.writer import OutboxWriter


def test_full_outbox_holds_messages_in_order_and_writes_them_later(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    writer = OutboxWriter(box)
    assert writer.submit("m0", "t", {}, "a") is True
    box.db.execute("PRAGMA max_page_count = 1")  # nothing more fits: what a full disk does
    assert writer.submit("m1", "t", {"pad": "x" * 5000}, "a") is False
    assert writer.submit("m2", "t", {"pad": "x" * 5000}, "b") is False
    assert writer.held == 2 and writer.last_error is not None and str(box.path) in writer.last_error
    assert writer.retry() == 2
    assert writer.forget_customer("b") == 1
    box.db.execute("PRAGMA max_page_count = 1000000")
    assert writer.retry() == 0 and writer.last_error is None
    assert [it.msg_id for it in box.pending(10)] == ["m0", "m1"]


def test_memory_is_bounded_and_losses_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.db.execute("PRAGMA max_page_count = 1")
    writer = OutboxWriter(box, max_held=3)
    for i in range(5):
        writer.submit(f"m{i}", "t", {"pad": "x" * 5000}, None)
    assert writer.held == 3 and writer.dropped == 2
    box.db.execute("PRAGMA max_page_count = 1000000")
    writer.retry()
    assert [it.msg_id for it in box.pending(10)] == ["m2", "m3", "m4"]
