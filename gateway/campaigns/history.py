"""What the caps must remember across restarts, and each customer's presence history (I/O).

Triggers and redemptions are written at once (they are few, and a cooldown must survive a crash); stays are
buffered and written in batches, because a replayed store day produces thousands of them in seconds. The
daemon's file also keeps each returning customer's learnt phone offset (gateway/zones/recall.py), one row per
customer, written with the stays.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from gateway.sqlite_open import create_private, open_problem, schema_problem

log = logging.getLogger(__name__)

STAY_BATCH_ROWS = 500  # insert_all batch size; sqlite-utils is ~15x faster batched than row by row


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    trigger_id: str
    customer_id: str
    campaign_id: str
    t: float
    visit_id: str
    day: str  # store-local YYYY-MM-DD, for daily caps and budgets


@dataclass(frozen=True, slots=True)
class StayRecord:
    customer_id: str
    visit_id: str
    zone: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class RedemptionRecord:
    trigger_id: str
    customer_id: str
    campaign_id: str
    at: float


class HistoryError(Exception):
    """The history database cannot be opened; the message names the file."""


class History(Protocol):
    def add_trigger(self, rec: TriggerRecord) -> None: ...
    def triggers_of(self, customer_id: str, since: float) -> list[TriggerRecord]: ...
    def campaign_day_count(self, campaign_id: str, day: str) -> int: ...
    def add_redemption(self, rec: RedemptionRecord) -> None: ...
    def redeemed_campaigns(self, customer_id: str) -> frozenset[str]: ...
    def add_stay(self, rec: StayRecord) -> None: ...
    def flush(self) -> None: ...
    def delete_customer(self, customer_id: str) -> None: ...
    def export_customer(self, customer_id: str) -> dict[str, Any]: ...
    def customer_ids(self) -> set[str]: ...
    def prune(self, before: float, triggers_before: float | None = None) -> int: ...


def _export(
    customer_id: str,
    triggers: list[TriggerRecord],
    redemptions: list[RedemptionRecord],
    stays: list[StayRecord],
    phone_offset: dict[str, Any] | None = None,
) -> dict[str, Any]:
    def strip(d: dict[str, Any]) -> dict[str, Any]:
        d.pop("customer_id", None)
        return d

    return {
        "customer_id": customer_id,
        "triggers": [strip(asdict(r)) for r in sorted(triggers, key=lambda r: r.t)],
        "redemptions": [strip(asdict(r)) for r in sorted(redemptions, key=lambda r: r.at)],
        "stays": [strip(asdict(r)) for r in sorted(stays, key=lambda r: r.start)],
        # how this customer's phone reads against the walk's device, as their last visit learnt it (recall.py)
        "phone_offset": phone_offset,
    }


class MemoryHistory:
    """For pure tests and for replays that must not touch the disk."""

    def __init__(self) -> None:
        self.triggers: dict[str, TriggerRecord] = {}
        self.redemptions: dict[str, RedemptionRecord] = {}
        self.stays: list[StayRecord] = []

    def add_trigger(self, rec: TriggerRecord) -> None:
        self.triggers.setdefault(rec.trigger_id, rec)

    def triggers_of(self, customer_id: str, since: float) -> list[TriggerRecord]:
        return sorted(
            (r for r in self.triggers.values() if r.customer_id == customer_id and r.t >= since), key=lambda r: r.t
        )

    def campaign_day_count(self, campaign_id: str, day: str) -> int:
        return sum(1 for r in self.triggers.values() if r.campaign_id == campaign_id and r.day == day)

    def add_redemption(self, rec: RedemptionRecord) -> None:
        self.redemptions.setdefault(rec.trigger_id, rec)

    def redeemed_campaigns(self, customer_id: str) -> frozenset[str]:
        return frozenset(r.campaign_id for r in self.redemptions.values() if r.customer_id == customer_id)

    def add_stay(self, rec: StayRecord) -> None:
        self.stays.append(rec)

    def flush(self) -> None:
        return None

    def delete_customer(self, customer_id: str) -> None:
        self.triggers = {k: r for k, r in self.triggers.items() if r.customer_id != customer_id}
        self.redemptions = {k: r for k, r in self.redemptions.items() if r.customer_id != customer_id}
        self.stays = [r for r in self.stays if r.customer_id != customer_id]

    def customer_ids(self) -> set[str]:
        return (
            {r.customer_id for r in self.triggers.values()}
            | {r.customer_id for r in self.redemptions.values()}
            | {r.customer_id for r in self.stays}
        )

    def prune(self, before: float, triggers_before: float | None = None) -> int:
        cut = before if triggers_before is None else triggers_before
        n = len(self.triggers) + len(self.stays)
        self.triggers = {k: r for k, r in self.triggers.items() if r.t >= cut}
        self.stays = [r for r in self.stays if r.end >= before]
        return n - len(self.triggers) - len(self.stays)

    def export_customer(self, customer_id: str) -> dict[str, Any]:
        return _export(
            customer_id,
            [r for r in self.triggers.values() if r.customer_id == customer_id],
            [r for r in self.redemptions.values() if r.customer_id == customer_id],
            [r for r in self.stays if r.customer_id == customer_id],
        )


# The file's table layout (sqlite_open.schema_problem): raise it with a change an older version would misread.
LAYOUT_VERSION = 1


class SqliteHistory:
    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = Path(db_path)
        create_private(self.path)
        self._stays: list[dict[str, Any]] = []
        self._held: list[tuple[str, dict[str, Any]]] = []  # trigger/redemption rows a failed write kept
        self._triggers: list[TriggerRecord] = []  # decided, waiting for the runtime's flush (after the outbox)
        # phone offsets to write: customer -> row, or None to delete the customer's row
        self._offsets: dict[str, dict[str, Any] | None] = {}
        self.last_error: str | None = None
        try:
            self.db = sqlite_utils.Database(self.path)
            aside = "or move it aside, and the campaigns' cooldowns and caps start afresh"
            if problem := schema_problem(self.db.conn, self.path, "history database", LAYOUT_VERSION, aside):
                self.db.close()
                raise HistoryError(problem)
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
            # a revoked customer's rows are overwritten, not left in free pages
            self.db.execute("PRAGMA secure_delete=ON")
            self._create()
        except sqlite3.DatabaseError as e:
            # the path, so the store's IT team knows which file to move aside (the caps it held start afresh)
            raise HistoryError(open_problem(self.path, "history database", e)) from None

    def _create(self) -> None:
        db = self.db
        db.table("triggers").create(
            {"trigger_id": str, "customer_id": str, "campaign_id": str, "t": float, "visit_id": str, "day": str},
            pk="trigger_id",
            if_not_exists=True,
        )
        db.table("redemptions").create(
            {"trigger_id": str, "customer_id": str, "campaign_id": str, "at": float},
            pk="trigger_id",
            if_not_exists=True,
        )
        db.table("stays").create(
            {"customer_id": str, "visit_id": str, "zone": str, "start": float, "end": float}, if_not_exists=True
        )
        db.table("offsets").create(
            {"customer_id": str, "model": str, "mean_db": float, "var_db2": float, "t": float},
            pk="customer_id",
            if_not_exists=True,
        )
        db.table("triggers").create_index(["customer_id", "t"], if_not_exists=True)
        db.table("triggers").create_index(["campaign_id", "day"], if_not_exists=True)
        db.table("redemptions").create_index(["customer_id"], if_not_exists=True)
        db.table("stays").create_index(["customer_id"], if_not_exists=True)

    def add_trigger(self, rec: TriggerRecord) -> None:
        # Written only by flush(), which the runtime calls once the trigger is in the outbox: written first, a
        # trigger a crash then kept from the outbox would read as "already sent this visit" and never be sent
        # (SPEC 7). Until then the readers below count it from memory.
        self._triggers.append(rec)

    def triggers_of(self, customer_id: str, since: float) -> list[TriggerRecord]:
        rows = self.db.query(
            "select trigger_id, customer_id, campaign_id, t, visit_id, day from triggers"
            " where customer_id = ? and t >= ? order by t",
            [customer_id, since],
        )
        stored = [TriggerRecord(**r) for r in rows]
        ids = {r.trigger_id for r in stored}
        waiting = [
            r for r in self._triggers if r.customer_id == customer_id and r.t >= since and r.trigger_id not in ids
        ]
        return sorted(stored + waiting, key=lambda r: r.t) if waiting else stored

    def newest_trigger_t(self) -> float | None:
        """The advertisement time of the newest trigger written, or None when there is none."""
        row = self.db.execute("select max(t) from triggers").fetchone()
        return None if row[0] is None else float(row[0])

    def campaign_day_count(self, campaign_id: str, day: str) -> int:
        row = self.db.execute(
            "select count(*) from triggers where campaign_id = ? and day = ?", [campaign_id, day]
        ).fetchone()
        return int(row[0]) + sum(1 for r in self._triggers if r.campaign_id == campaign_id and r.day == day)

    def add_redemption(self, rec: RedemptionRecord) -> None:
        self._held.append(("redemptions", asdict(rec)))
        self._write_held()

    def _write_held(self) -> None:
        """Writes held trigger/redemption rows. On a full or read-only disk they stay held (the engine's own
        ledger still enforces the caps in memory) and go out on a later flush once the disk recovers."""
        if not self._held:
            return
        rows, self._held = self._held, []
        try:
            with self.db.atomic():
                for table, row in rows:
                    self.db.table(table).insert(row, ignore=True)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as e:
            self._held = rows + self._held
            self._failed(e)
            return
        self.last_error = None

    def redeemed_campaigns(self, customer_id: str) -> frozenset[str]:
        rows = self.db.execute("select campaign_id from redemptions where customer_id = ?", [customer_id])
        return frozenset(r[0] for r in rows.fetchall())

    def add_stay(self, rec: StayRecord) -> None:
        self._stays.append(asdict(rec))
        if len(self._stays) >= STAY_BATCH_ROWS:
            self._write_stays()  # not flush(): a trigger waits for the runtime's, after the outbox

    def put_offsets(self, model: str, changes: list[tuple[str, tuple[float, float, float] | None]]) -> None:
        """Phone offsets as OffsetRecall.changes gives them, (mean, variance, last heard) or None to drop the
        customer's row, learnt under the zone model with digest `model`; written at the next flush."""
        for customer_id, got in changes:
            self._offsets[customer_id] = (
                None
                if got is None
                else {"customer_id": customer_id, "model": model, "mean_db": got[0], "var_db2": got[1], "t": got[2]}
            )

    def offsets(self, model: str, limit: int) -> list[tuple[str, float, float, float]]:
        """The `limit` most recent phone offsets learnt under the zone model `model`, least recent first, for
        OffsetRecall.restore. Rows learnt under another model are deleted: their offsets are relative to another
        walk's device, and nothing is kept that will not be used."""
        self.flush()
        try:
            with self.db.atomic():
                self.db.execute("delete from offsets where model != ?", [model])
            rows = self.db.execute(
                "select * from (select customer_id, mean_db, var_db2, t from offsets order by t desc limit ?)"
                " order by t",
                [limit],
            ).fetchall()
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as e:
            # a nicety, not a duty: regulars start from the prior, as on a first visit
            log.warning("history %s: phone offsets not read (%s); every visit starts from the prior", self.path, e)
            return []
        return [(str(c), m, v, t) for c, m, v, t in rows if all(isinstance(x, float) for x in (m, v, t))]

    def flush(self) -> None:
        if self._triggers:
            self._held.extend(("triggers", asdict(r)) for r in self._triggers)
            self._triggers = []
        self._write_held()
        if self._offsets:
            self._write_offsets()
        self._write_stays()
        if not (self._held or self._stays or self._offsets):
            self.last_error = None  # everything held is written: the disk is back

    def _write_stays(self) -> None:
        if not self._stays:
            return
        rows, self._stays = self._stays, []
        try:
            with self.db.atomic():
                self.db.table("stays").insert_all(rows, batch_size=STAY_BATCH_ROWS)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as e:
            self._stays = rows + self._stays
            self._failed(e)

    def _write_offsets(self) -> None:
        changes, self._offsets = self._offsets, {}
        try:
            with self.db.atomic():
                gone = [[c] for c, row in changes.items() if row is None]
                if gone:
                    self.db.conn.executemany("delete from offsets where customer_id = ?", gone)
                rows = [row for row in changes.values() if row is not None]
                if rows:
                    self.db.table("offsets").upsert_all(rows, pk="customer_id")
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as e:
            self._offsets = {**changes, **self._offsets}
            self._failed(e)

    def _failed(self, e: BaseException) -> None:
        held = len(self._held) + len(self._stays) + len(self._offsets)
        message = f"history {self.path}: cannot write ({e}); {held} rows held in memory"
        if self.last_error is None:
            log.error("%s", message)
        self.last_error = message

    def delete_customer(self, customer_id: str) -> None:
        self._stays = [r for r in self._stays if r["customer_id"] != customer_id]
        self._held = [(t, r) for t, r in self._held if r["customer_id"] != customer_id]
        self._triggers = [r for r in self._triggers if r.customer_id != customer_id]
        self._offsets.pop(customer_id, None)
        with self.db.atomic():
            for table in ("triggers", "redemptions", "stays", "offsets"):
                self.db.execute(f"delete from {table} where customer_id = ?", [customer_id])

    def export_customer(self, customer_id: str) -> dict[str, Any]:
        self.flush()
        q = "select * from {} where customer_id = ?"
        triggers = [TriggerRecord(**r) for r in self.db.query(q.format("triggers"), [customer_id])]
        redemptions = [RedemptionRecord(**r) for r in self.db.query(q.format("redemptions"), [customer_id])]
        stays = [StayRecord(**r) for r in self.db.query(q.format("stays"), [customer_id])]
        offset = next(
            self.db.query("select mean_db, var_db2, t as learnt_at from offsets where customer_id = ?", [customer_id]),
            None,
        )
        return _export(customer_id, triggers, redemptions, stays, offset)

    def customer_ids(self) -> set[str]:
        """Everyone with stored history: at start, the daemon erases those no longer consenting (revoked offline)."""
        self.flush()
        rows = self.db.execute(
            "select customer_id from triggers union select customer_id from redemptions"
            " union select customer_id from stays union select customer_id from offsets"
        )
        return {r[0] for r in rows.fetchall()}

    def prune(self, before: float, triggers_before: float | None = None) -> int:
        """Data minimisation: drop stays and phone offsets older than `before`, and triggers older than
        `triggers_before` (default `before`; the caller keeps what the longest cooldown or cap interval needs).

        Redemptions are kept: they stop a redeemed coupon from being offered again.
        """
        self.flush()
        with self.db.atomic():
            cut = before if triggers_before is None else triggers_before
            n = self.db.execute("delete from triggers where t < ?", [cut]).rowcount
            n += self.db.execute("delete from stays where end < ?", [before]).rowcount
            n += self.db.execute("delete from offsets where t < ?", [before]).rowcount
        return int(n)

    def close(self) -> None:
        self.flush()
        self.db.close()
