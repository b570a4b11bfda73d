"""The outbox keeps every message until it is acknowledged, across restarts, and fails in one clear line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.delivery.outbox import Outbox, OutboxEntry, OutboxError

HERE = Path(__file__).parent


def test_put_is_idempotent_on_msg_id(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    assert box.put("t1", "p/s/triggers/c", {"trigger_id": "t1"}, "cust-1") is True
    assert box.put("t1", "p/s/triggers/c", {"trigger_id": "t1", "changed": True}, "cust-1") is False
    assert box.depth() == 1
    assert box.pending(10)[0].payload == '{"trigger_id":"t1"}'  # the first version is what gets (re)sent


def test_survives_reopen_in_order_and_ack_removes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "outbox.db"
    box = Outbox(path)
    for i in range(5):
        box.put(f"m{i}", "t", {"i": i}, None)
    box.close()
    again = Outbox(path)
    assert [it.msg_id for it in again.pending(10)] == ["m0", "m1", "m2", "m3", "m4"]
    again.ack("m1")
    again.ack("not-there")
    assert [it.msg_id for it in again.pending(2)] == ["m0", "m2"]
    assert again.depth() == 4


def test_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path).put("m", "t", {}, None)
    for p in (path, Path(f"{path}-wal")):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


def test_revocation_deletes_only_that_customers_queue(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put("a1", "t", {}, "alice")
    box.put("b1", "t", {}, "bob")
    box.put("a2", "t", {}, "alice")
    assert box.delete_customer("alice") == 2
    assert [it.msg_id for it in box.pending(10)] == ["b1"]


def test_messages_about_no_one_customer_are_not_taken_for_a_customer_to_erase(tmp_path: Path) -> None:
    """Revocation notices were filed under customer '' before they were filed under none; an outbox an older
    version left must not have them erased at start as a revoked customer's."""
    box = Outbox(tmp_path / "o.db")
    box.put("revocation-old", "p/s/consent", {"customer_id": "alice", "consent": False}, "")
    box.put("revocation-new", "p/s/consent", {"customer_id": "bob", "consent": False}, None)
    box.put("b1", "t", {}, "carol")
    assert box.customer_ids() == {"carol"}


def test_oldest_age_uses_the_put_time(tmp_path: Path) -> None:
    clock = iter([100.0, 130.0])
    box = Outbox(tmp_path / "o.db", clock=lambda: next(clock))
    assert box.oldest_age(200.0) == 0.0
    box.put("m1", "t", {}, None)
    box.put("m2", "t", {}, None)
    assert box.oldest_age(160.0) == 60.0
    box.ack("m1")
    assert box.oldest_age(160.0) == 30.0


def test_put_many_counts_only_new_ids(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put("m1", "t", {}, None)
    items = [OutboxEntry(f"m{i}", "t", {"i": i}, "c") for i in range(1000)]
    assert box.put_many(items) == 999
    assert box.put_many(items) == 0
    assert box.depth() == 1000


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.integers(0, 15), st.sampled_from(["a", "b", None])),
            st.tuples(st.just("ack"), st.integers(0, 15), st.none()),
            st.tuples(st.just("revoke"), st.integers(0, 0), st.sampled_from(["a", "b"])),
        ),
        max_size=40,
    )
)
def test_behaves_like_an_ordered_dict(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int, str | None]]
) -> None:
    box = Outbox(tmp_path_factory.mktemp("prop") / "o.db")
    model: dict[str, str | None] = {}  # insertion-ordered: the expected queue
    for op, n, cust in ops:
        mid = f"m{n}"
        if op == "put":
            assert box.put(mid, "t", {"n": n}, cust) == (mid not in model)
            model.setdefault(mid, cust)
        elif op == "ack":
            box.ack(mid)
            model.pop(mid, None)
        else:
            gone = [k for k, v in model.items() if v == cust]
            assert box.delete_customer(str(cust)) == len(gone)
            for k in gone:
                del model[k]
    assert [it.msg_id for it in box.pending(100)] == list(model)
    assert box.depth() == len(model)
    box.close()


def test_full_database_raises_one_line_naming_the_file_and_keeps_what_it_has(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    box.put("kept", "t", {}, None)
    box.db.execute("PRAGMA max_page_count = 8")  # what a full disk looks like to SQLite
    with pytest.raises(OutboxError) as err:
        for i in range(10_000):
            box.put(f"m{i}", "t", {"pad": "x" * 400}, None)
    message = str(err.value)
    assert str(path) in message and "full" in message and "\n" not in message
    box.db.execute("PRAGMA max_page_count = 1000000")  # space freed: the caller's retry now works
    assert box.put("retry", "t", {}, None) is True
    assert box.pending(1)[0].msg_id == "kept"


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, check=False
    )
    if res.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); the max_page_count test covers the error path")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_real_full_filesystem(tiny_fs: Path) -> None:
    box = Outbox(tiny_fs / "o.db")
    with pytest.raises(OutboxError, match=r"o\.db: cannot write: .*full"):
        for i in range(100_000):
            box.put(f"m{i}", "t", {"pad": "x" * 400}, None)
    assert box.depth() > 0


def test_read_only_file_raises_outbox_error(tmp_path: Path) -> None:
    path = tmp_path / "ro" / "o.db"
    setup = Outbox(path)
    setup.put("m", "t", {}, None)
    setup.close()
    if os.geteuid() != 0:
        path.chmod(0o400)
        box = Outbox(path)
    else:
        # root ignores file modes: remount a tmpfs read-only instead.
        mnt = tmp_path / "romnt"
        mnt.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=False).returncode:
            pytest.skip("running as root without mount permission: cannot make a file read-only")
        try:
            first = Outbox(mnt / "o.db")
            first.put("m", "t", {}, None)
            first.close()  # an open file would keep the mount busy
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
            with pytest.raises(OutboxError) as err:
                Outbox(mnt / "o.db").put("n", "t", {}, None)
        finally:
            subprocess.run(["umount", "-l", str(mnt)], check=False)
        assert str(mnt / "o.db") in str(err.value)
        return
    with pytest.raises(OutboxError, match="read-only"):
        box.put("n", "t", {}, None)


def test_unopenable_path_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutboxError, match=r"cannot open"):
        Outbox(blocker / "o.db")


def test_put_that_returned_survives_sigkill(tmp_path: Path) -> None:
    """A put is committed before it returns: the helper prints each id after put(); we kill it mid-stream."""
    db = tmp_path / "o.db"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "publisher_proc.py"), "--db", str(db), "--put-loop"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    printed: list[str] = []
    deadline = time.monotonic() + 20
    watchdog = threading.Timer(30, proc.kill)  # a silent, hung helper must fail the test, not stall the suite
    watchdog.start()
    try:
        while len(printed) < 50 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            printed.append(line.strip())
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    assert len(printed) >= 50
    stored = {it.msg_id for it in Outbox(db).pending(1_000_000)}
    assert set(printed) <= stored
