"""The SQLite outbox: every message is committed here before it is published, and leaves only after PUBACK.

Durability: WAL with `synchronous=FULL` by default, so a `put` that returned survives a SIGKILL and also a power
cut (a Pi in a store loses power more often than its process crashes). That costs one fsync per `put`; `put_many`
amortises it over a batch, and acks skip it (see `ack_many`). `power_safe=False` keeps SIGKILL-safety only.
See benchmarks/bench_delivery.py for what each costs.

Errors: a full disk, a read-only file or a broken database raise `OutboxError` with one line naming the file.
Nothing is lost by a failed `put`: `gateway.runtime.Runtime.enqueue` holds such messages in memory, in order and
bounded (presence is shed first), while the pipeline keeps scanning, and writes them when the file accepts writes
again; `put` is idempotent on `msg_id`, so retrying a put that did in fact commit is harmless.

All calls are synchronous and short (one indexed statement); they run on the event loop's thread, which keeps a
single SQLite connection and no locking between threads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from gateway.sqlite_open import create_private, schema_problem

TABLE = "outbox"
DEAD_TABLE = "dead_letters"
# The file's table layout (sqlite_open.schema_problem): raise it with a change an older version would misread.
LAYOUT_VERSION = 1
BUSY_TIMEOUT_MS = 5000  # a CLI reading the same file (status) may hold a read lock briefly
PUT_MANY_BATCH_ROWS = 500  # sqlite-utils' insert_all batch size; about 15x faster than one insert per row

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a deleted seq is never reused, so order holds
    msg_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    customer_id TEXT,
    qos INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_customer ON {TABLE}(customer_id);
-- Messages MQTT can never carry (a wildcard in the topic): kept for a person to look at, out of the queue.
CREATE TABLE IF NOT EXISTS {DEAD_TABLE} (
    msg_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    customer_id TEXT,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


def queued_in(path: Path) -> int | None:
    """Messages waiting in an outbox file, read without writing anything (for `status` while the daemon is
    stopped); None when the file is missing or unreadable: a report does not repair."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return int(row[0])


class OutboxError(Exception):
    """The outbox file cannot be opened or written; the message is one line naming the file and the cause."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    msg_id: str
    topic: str
    payload: str  # the JSON text exactly as stored: a resend publishes the same bytes
    customer_id: str | None
    qos: int
    created_at: float


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One message for `put_many`."""

    msg_id: str
    topic: str
    payload: dict[str, Any]
    customer_id: str | None
    qos: int = 1


def _reason(exc: BaseException) -> str:
    """sqlite3's messages are already short ("database or disk is full"); name the common cases plainly."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_FULL:
            return "disk full (database or disk is full)"
        if code is not None and code & 0xFF == sqlite3.SQLITE_READONLY:
            return "read-only (attempt to write a readonly database)"
    if isinstance(exc, OSError):
        return exc.strerror or text
    return text.splitlines()[0]


def _encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Outbox:
    def __init__(self, db_path: Path, clock: Callable[[], float] = time.time, *, power_safe: bool = True) -> None:
        """`power_safe=False` drops the fsync per put (synchronous=NORMAL): still safe against a killed process,
        not against a power cut or a kernel crash."""
        # The clock only stamps created_at (for oldest_age); it never decides what a message says.
        self.path = Path(db_path)
        self._clock = clock
        self._synchronous = "FULL" if power_safe else "NORMAL"
        try:
            create_private(self.path)  # triggers name customers: readable by the gateway's user only
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(f"outbox {self.path}: cannot open: {_reason(e)}") from None
        self.db = sqlite_utils.Database(conn)
        try:
            aside = "or move it aside, and the messages it holds are never sent"
            problem = schema_problem(conn, self.path, "outbox", LAYOUT_VERSION, aside)
        except sqlite3.Error as e:
            conn.close()
            raise OutboxError(f"outbox {self.path}: cannot open: {_reason(e)}") from None
        if problem is not None:
            conn.close()
            raise OutboxError(problem)
        try:
            self.db.enable_wal()
            self.db.execute(f"PRAGMA synchronous={self._synchronous}")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            conn.close()
            raise OutboxError(f"outbox {self.path}: cannot open: {_reason(e)}") from None

    def close(self) -> None:
        self.db.close()

    def _fail(self, action: str, exc: BaseException) -> OutboxError:
        return OutboxError(f"outbox {self.path}: cannot {action}: {_reason(exc)}")

    def put(self, msg_id: str, topic: str, payload: dict[str, Any], customer_id: str | None, qos: int = 1) -> bool:
        """Store one message; False if `msg_id` is already queued (a resend after a restart). Committed on return."""
        body = _encode(payload)
        try:
            cur = self.db.execute(
                f"INSERT OR IGNORE INTO {TABLE} (msg_id, topic, payload, customer_id, qos, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [msg_id, topic, body, customer_id, qos, self._clock()],
            )
        except sqlite3.Error as e:
            raise self._fail("write", e) from None
        return cur.rowcount == 1

    def put_many(self, items: Iterable[OutboxEntry]) -> int:
        """Store many messages in one transaction (replay speed); returns how many were new."""
        now = self._clock()
        rows = [
            {
                "msg_id": it.msg_id,
                "topic": it.topic,
                "payload": _encode(it.payload),
                "customer_id": it.customer_id,
                "qos": it.qos,
                "created_at": now,
            }
            for it in items
        ]
        if not rows:
            return 0
        try:
            with self.db.atomic():
                before = self._count()
                self.db.table(TABLE).insert_all(rows, ignore=True, batch_size=PUT_MANY_BATCH_ROWS)
                after = self._count()
        except sqlite3.Error as e:
            raise self._fail("write", e) from None
        return after - before

    def _count(self) -> int:
        row = self.db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        return int(row[0])

    def pending(self, limit: int) -> list[OutboxItem]:
        """The oldest `limit` queued messages, in the order they were put."""
        try:
            rows = self.db.execute(
                f"SELECT seq, msg_id, topic, payload, customer_id, qos, created_at FROM {TABLE} ORDER BY seq LIMIT ?",
                [limit],
            ).fetchall()
        except sqlite3.Error as e:
            raise self._fail("read", e) from None
        return [OutboxItem(*row) for row in rows]

    def ack(self, msg_id: str) -> None:
        """The broker has the message: forget it."""
        self.ack_many([msg_id])

    def ack_many(self, msg_ids: Sequence[str]) -> None:
        # A lost ack (crash before commit) only means one more delivery: at-least-once allows it.
        if not msg_ids:
            return
        # So acks skip the fsync (synchronous=NORMAL for this commit only): in WAL mode the delete still survives
        # a process crash, and a power cut can at worst bring back messages the broker already has. This halves
        # the fsyncs per message when the broker acknowledges one message at a time.
        try:
            self.db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self.db.atomic():
                    self.db.conn.executemany(f"DELETE FROM {TABLE} WHERE msg_id = ?", [(m,) for m in msg_ids])
            finally:
                self.db.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as e:
            raise self._fail("delete", e) from None

    def dead_letter(self, msg_id: str, reason: str) -> None:
        """Move a message that can never be published out of the queue, so it does not block its customer."""
        try:
            with self.db.atomic():
                self.db.execute(
                    f"INSERT OR REPLACE INTO {DEAD_TABLE} (msg_id, topic, payload, customer_id, reason, created_at)"
                    f" SELECT msg_id, topic, payload, customer_id, ?, created_at FROM {TABLE} WHERE msg_id = ?",
                    [reason, msg_id],
                )
                self.db.execute(f"DELETE FROM {TABLE} WHERE msg_id = ?", [msg_id])
        except sqlite3.Error as e:
            raise self._fail("write", e) from None

    def dead_letters(self) -> int:
        try:
            return int(self.db.execute(f"SELECT count(*) FROM {DEAD_TABLE}").fetchone()[0])
        except sqlite3.Error as e:
            raise self._fail("read", e) from None

    def depth(self) -> int:
        try:
            return self._count()
        except sqlite3.Error as e:
            raise self._fail("read", e) from None

    def customer_ids(self) -> set[str]:
        """The customers with a queued or dead-lettered message."""
        try:
            # '' is how earlier versions filed revocation notices: about no one customer, not one to erase
            rows = self.db.execute(
                f"SELECT customer_id FROM {TABLE} WHERE customer_id IS NOT NULL AND customer_id != ''"
                f" UNION SELECT customer_id FROM {DEAD_TABLE} WHERE customer_id IS NOT NULL AND customer_id != ''"
            ).fetchall()
        except sqlite3.Error as e:
            raise self._fail("read", e) from None
        return {str(r[0]) for r in rows}

    def export_customer(self, customer_id: str) -> list[dict[str, Any]]:
        """A data request's share of the outbox: the customer's messages not yet acknowledged (queued or set aside),
        as they would be published."""
        try:
            rows = self.db.execute(
                f"SELECT topic, payload, created_at, 'queued' FROM {TABLE} WHERE customer_id = ?"
                f" UNION ALL SELECT topic, payload, created_at, 'set aside' FROM {DEAD_TABLE} WHERE customer_id = ?"
                " ORDER BY 3",
                [customer_id, customer_id],
            ).fetchall()
        except sqlite3.Error as e:
            raise self._fail("read", e) from None
        return [
            {"topic": topic, "payload": json.loads(body), "queued_at": at, "state": state}
            for topic, body, at, state in rows
        ]

    def delete_customer(self, customer_id: str) -> int:
        """Revocation: drop that customer's queued-but-unsent messages; returns how many."""
        try:
            with self.db.atomic():
                cur = self.db.execute(f"DELETE FROM {TABLE} WHERE customer_id = ?", [customer_id])
                self.db.execute(f"DELETE FROM {DEAD_TABLE} WHERE customer_id = ?", [customer_id])
        except sqlite3.Error as e:
            raise self._fail("delete", e) from None
        return int(cur.rowcount)

    def oldest_age(self, now: float) -> float:
        """Seconds the oldest queued message has waited at `now`; 0.0 when the outbox is empty."""
        try:
            row = self.db.execute(f"SELECT min(created_at) FROM {TABLE}").fetchone()
        except sqlite3.Error as e:
            raise self._fail("read", e) from None
        if row is None or row[0] is None:
            return 0.0
        return max(0.0, now - float(row[0]))
