"""The consent registry: customers, their identifiers and consent, in SQLite (sqlite-utils, WAL, mode 0600).

Tables:
- `customers`: one row per customer id ever seen; identifiers (with secrets) as JSON. A revocation deletes
  the identifiers and keeps a tombstone (consent 0, `revoked_at`), so a stale import cannot silently re-grant.
- `identifier_keys`: one row per identifier (its match key; token secrets and IRKs only as SHA-256), unique,
  so one tag or key can never belong to two customers.
- `meta`: `generation`, a counter bumped by every committed change; each changed customer row records the
  generation that changed it.

Noticing changes made by another process (the CLI while the daemon runs): poll `version()` (the generation
counter, one indexed read) every second or two; when it moved, `changes_since(old_version)` returns the
customers whose rows changed (tombstones included) so the daemon can upsert/remove them in its Resolver and
delete a revoked customer's history. A counter in a table is used rather than PRAGMA data_version because
it also counts this connection's own writes and survives restarts.

Re-granting after revocation is deliberate: the record must carry `consented_at` later than `revoked_at`,
or the caller passes `regrant=True` (the CLI's `--regrant`).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from gateway.identity.importer import RecordError, parse_record, parse_record_noting, read_customers_file
from gateway.identity.models import STORED, Customer
from gateway.sqlite_open import create_private, open_problem, schema_problem

log = logging.getLogger(__name__)

# The file's table layout (sqlite_open.schema_problem): raise it with a change an older version would misread.
LAYOUT_VERSION = 1
# A fresh registry would take a customers file's consent for granted again: the revocations live here only.
REGISTRY_ASIDE = (
    "do not move it aside: it holds the revocations, and a fresh registry would let a customers file grant them "
    "again (restore a backup the newer version made instead)"
)
IMPORT_BATCH_ROWS = 1000  # ~60 ms of writes per transaction: the other process's wait stays short
FILE_DIGEST_KEY = "customers_file"  # meta: the bytes of the customers file the daemon imported last (import_file)
BUSY_TIMEOUT_MS = 5000  # the CLI and the daemon share the file: wait for the other's short transaction

# declined: consent=false for a customer the registry never had; nothing is stored
Action = Literal["added", "updated", "unchanged", "revoked", "declined", "rejected"]


class RegistryError(Exception):
    """The registry file cannot be opened or written; the message names the file."""


@dataclass(frozen=True)
class ConsentChange:
    """What one record did to the registry, so the daemon can update its Resolver and delete history."""

    customer_id: str | None
    action: Action
    customer: Customer | None = None  # the stored state after the change (None when rejected)
    problems: tuple[str, ...] = ()  # for "rejected": 'field: message' lines, never a value

    @property
    def consenting(self) -> bool:
        return self.customer is not None and self.customer.consent

    @property
    def problem(self) -> str | None:
        """The problems as one line (for a log), or None if the record was applied."""
        return "; ".join(self.problems) if self.problems else None


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    revoked: int = 0
    declined: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    # rows imported as they are that can never be recognised: a marketer wants to know, the import did not fail
    notes: list[str] = field(default_factory=list)
    unchanged_file: bool = False  # only_if_changed, and the file is the one imported last: nothing applied
    changes: list[ConsentChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    try:
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # stored by a version that took any number: exported as it is
        return f"{t:g}"


def _line_of(problem: str) -> int:
    """Sort key: problems in file order (parse problems and registry conflicts are found in two passes)."""
    _, sep, rest = problem.partition(": line ")
    digits = rest.split(":", 1)[0]
    return int(digits) if sep and digits.isdigit() else 0


class Registry:
    def __init__(self, db_path: Path | str, now: Callable[[], float] = time.time) -> None:
        self.path = Path(db_path)
        self._now = now  # bookkeeping times (updated_at, revoked_at); the pipeline never calls this
        try:
            create_private(self.path)
        except OSError as e:
            raise RegistryError(f"{self.path}: cannot open: {e.strerror}") from None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            self.db = sqlite_utils.Database(conn)
            problem = schema_problem(conn, self.path, "registry database", LAYOUT_VERSION, REGISTRY_ASIDE)
            if problem is None:
                self.db.enable_wal()
                self._create()
        except sqlite3.DatabaseError as e:
            raise RegistryError(open_problem(self.path, "registry database", e)) from None
        if problem is not None:
            conn.close()
            raise RegistryError(problem)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        db = self.db
        if "customers" not in db.table_names():
            with self._write():
                db.table("customers").create(
                    {
                        "customer_id": str,
                        "consent": int,
                        "purpose": str,
                        "segments": str,
                        "identifiers": str,
                        "expires_at": float,
                        "consented_at": float,
                        "revoked_at": float,
                        "created_at": float,
                        "updated_at": float,
                        "generation": int,
                    },
                    pk="customer_id",
                    if_not_exists=True,
                )
                db.table("customers").create_index(["generation"], if_not_exists=True)
                db.table("identifier_keys").create(
                    {"match_key": str, "customer_id": str, "kind": str}, pk="match_key", if_not_exists=True
                )
                db.table("identifier_keys").create_index(["customer_id"], if_not_exists=True)
                db.table("meta").create({"key": str, "value": int}, pk="key", if_not_exists=True)
                db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0)")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction; IMMEDIATE so two processes queue on the lock instead of deadlocking."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise RegistryError(f"{self.path}: cannot write: {e}") from None
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            raise RegistryError(f"{self.path}: cannot write: {e}") from None

    # reading

    def version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def _row_to_customer(self, row: dict[str, Any]) -> Customer:
        return Customer.model_validate(
            {
                "customer_id": row["customer_id"],
                "consent": bool(row["consent"]),
                "purpose": row["purpose"],
                "segments": json.loads(row["segments"]),
                "identifiers": json.loads(row["identifiers"]),
                "expires_at": row["expires_at"],
                "consented_at": row["consented_at"],
                "revoked_at": row["revoked_at"],
            },
            context=STORED,
        )

    def _rows(self, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cur = self.db.execute(f"SELECT * FROM customers {where} ORDER BY customer_id", params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def get(self, customer_id: str) -> Customer | None:
        rows = self._rows("WHERE customer_id = ?", (customer_id,))
        return self._row_to_customer(rows[0]) if rows else None

    def list(self) -> list[Customer]:
        """Every customer record, tombstones included, by id."""
        return [self._row_to_customer(r) for r in self._rows()]

    def consenting(self, t: float | None = None) -> builtins.list[Customer]:
        """Customers with consent (at time `t` if given, else regardless of expiry) - what a Resolver needs."""
        out = [self._row_to_customer(r) for r in self._rows("WHERE consent = 1")]
        return out if t is None else [c for c in out if c.consents_at(t)]

    def revoked_since(self, t: float) -> builtins.list[tuple[str, float]]:
        """(customer id, revoked_at) of the tombstones revoked at `t` or later, oldest first; no identifiers read."""
        cur = self.db.execute(
            "SELECT customer_id, revoked_at FROM customers WHERE consent = 0 AND revoked_at >= ? ORDER BY revoked_at",
            (t,),
        )
        return [(str(cid), float(at)) for cid, at in cur.fetchall()]

    def changes_since(self, version: int) -> builtins.list[Customer]:
        """Customers changed after `version` (tombstones included): feed each to Resolver.upsert."""
        return [self._row_to_customer(r) for r in self._rows("WHERE generation > ?", (version,))]

    def export(self, customer_id: str, include_secrets: bool = False) -> dict[str, Any] | None:
        """Everything the registry holds about one customer, for a data request; None if unknown.

        Token secrets and IRKs are replaced by a fingerprint unless `include_secrets`: they are credentials,
        and the export is usually handed on by e-mail.
        """
        rows = self._rows("WHERE customer_id = ?", (customer_id,))
        if not rows:
            return None
        row = rows[0]
        c = self._row_to_customer(row)
        record = c.storage_dict() if include_secrets else c.public_view()
        record["segments"] = sorted(c.segments)
        for key in ("expires_at", "consented_at", "revoked_at"):
            record[key + "_iso"] = _iso(record.get(key))
        return {
            "customer_id": customer_id,
            "registry": {
                "record": record,
                "created_at": _iso(row["created_at"]),
                "updated_at": _iso(row["updated_at"]),
                "file": str(self.path),
            },
        }

    # writing

    def upsert(self, customer: Customer, regrant: bool = False) -> ConsentChange:
        with self._write():
            gen = self.version() + 1
            change = self._apply(customer, regrant, gen)
            if change.action not in ("unchanged", "rejected"):
                self._bump(gen)
        return change

    def revoke(self, customer_id: str) -> bool:
        """Deletes the customer's identifiers and keeps a tombstone. False if the customer was not consenting."""
        if self.get(customer_id) is None:
            return False
        change = self.upsert(Customer(customer_id=customer_id, consent=False))
        return change.action == "revoked"

    def apply_consent_message(self, obj: object, regrant: bool = False) -> ConsentChange:
        """A payload from {prefix}/{store}/consent: a customers-file record or {"customer_id", "consent": false}."""
        try:
            customer, extra = parse_record_noting(obj)
        except RecordError as e:
            cid = obj.get("customer_id") if isinstance(obj, dict) else None
            withdrawal = _withdrawal(obj)
            if withdrawal is None:
                return ConsentChange(cid if isinstance(cid, str) else None, "rejected", problems=tuple(e.problems))
            # "consent": false for a customer is a withdrawal whatever else the message carries: rejecting it for
            # a field kept the customer recognised. A grant with the same problems stays rejected.
            log.warning(
                "consent withdrawal for %s applied; the rest of the message was not: %s", cid, "; ".join(e.problems)
            )
            customer = withdrawal
        else:
            if extra:  # the keys, never their values (an e-mail, a phone number)
                log.warning(
                    "consent message for %s: %s: not a customer record key; ignored",
                    customer.customer_id,
                    ", ".join(map(str, extra)),
                )
        return self.upsert(customer, regrant=regrant)

    def import_file(self, path: Path | str, regrant: bool = False, only_if_changed: bool = False) -> ImportReport:
        """Imports a customers file (JSON Lines or CSV); bad rows are reported, the rest imported.

        Written in transactions of IMPORT_BATCH_ROWS records, so a daemon applying a consent message never waits
        long for the lock; a re-run after an interruption finishes the job (import is idempotent).

        `only_if_changed` (the daemon's import at every start): a file whose bytes are those of the last such import
        is not applied again. Re-applied, a stale file would undo what the consent topic changed since: revoke a
        customer who opted in again (and erase their history), or put back an old tag.
        """
        path = Path(path)
        digest = None
        if only_if_changed:
            try:
                digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                pass  # read_customers_file names it
            else:
                row = self.db.execute("SELECT value FROM meta WHERE key = ?", (FILE_DIGEST_KEY,)).fetchone()
                if row is not None and row[0] == digest:
                    return ImportReport(unchanged_file=True)
        parsed = read_customers_file(path)
        report = ImportReport(rows=parsed.rows, problems=list(parsed.problems), notes=list(parsed.notes))
        report.rejected = parsed.rejected
        if not parsed.records:
            return report
        records = parsed.records
        now = self._now()
        for rec in records:
            c = rec.customer
            if not c.consent:
                continue
            if not c.identifiers:
                report.notes.append(
                    f"{path}: line {rec.line}: identifiers: none: nothing can recognise {c.customer_id}"
                )
            elif c.expires_at is not None and c.expires_at <= now:
                report.notes.append(
                    f"{path}: line {rec.line}: expires_at: {_iso(c.expires_at)} has passed: {c.customer_id}'s consent "
                    "is imported but expired, and they are not recognised"
                )
        for start in range(0, len(records), IMPORT_BATCH_ROWS):
            with self._write():
                gen = self.version() + 1
                changed = False
                for rec in records[start : start + IMPORT_BATCH_ROWS]:
                    change = self._apply(rec.customer, regrant, gen)
                    if change.action == "rejected":
                        report.rejected += 1
                        report.problems.extend(f"{path}: line {rec.line}: {p}" for p in change.problems)
                        continue
                    setattr(report, change.action, getattr(report, change.action) + 1)
                    if change.action != "unchanged":
                        report.changes.append(change)
                        changed = True
                if changed:
                    self._bump(gen)
        if digest is not None:
            with self._write():
                self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (FILE_DIGEST_KEY, digest))
        report.problems.sort(key=_line_of)
        return report

    def _bump(self, gen: int) -> None:
        self.db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (gen,))

    def _apply(self, c: Customer, regrant: bool, gen: int) -> ConsentChange:
        """Applies one record inside the caller's transaction. Compares stored columns, not parsed models,
        so re-importing an unchanged file of 100,000 customers stays cheap."""
        cid = c.customer_id
        rows = self._rows("WHERE customer_id = ?", (cid,))
        row = rows[0] if rows else None
        now = self._now()
        if not c.consent:
            if row is not None and not row["consent"]:
                return ConsentChange(
                    cid,
                    "unchanged",
                    _tombstone(cid, row["purpose"], row["revoked_at"]),
                )
            if row is None:
                # Never consented: "no" is already what the registry means by absence. Storing even the id
                # would keep a trace of someone who never agreed to anything (data minimisation).
                return ConsentChange(cid, "declined", Customer(customer_id=cid, consent=False))
            tomb = _tombstone(cid, row["purpose"], now)
            self.db.execute("DELETE FROM identifier_keys WHERE customer_id = ?", (cid,))
            self._write_row(tomb, gen, now, created=row["created_at"])
            return ConsentChange(cid, "revoked", tomb)

        revoked_at = row["revoked_at"] if row is not None else None
        if revoked_at is not None and not regrant and (c.consented_at is None or c.consented_at <= revoked_at):
            return ConsentChange(
                cid,
                "rejected",
                problems=(
                    f"consent: revoked at {_iso(revoked_at)}; a re-grant needs consented_at later than that "
                    "(or --regrant)",
                ),
            )
        keys = [(i.match_key(), i.kind) for i in c.identifiers]
        problems = []
        seen: set[str] = set()
        for n, (key, _) in enumerate(keys):
            if key in seen:
                problems.append(f"identifiers[{n}]: listed twice")
            seen.add(key)
            owner = self.db.execute("SELECT customer_id FROM identifier_keys WHERE match_key = ?", (key,)).fetchone()
            if owner is not None and owner[0] != cid:
                problems.append(f"identifiers[{n}]: already registered to another customer")
        if problems:
            return ConsentChange(cid, "rejected", problems=tuple(problems))
        new = c.model_copy(update={"revoked_at": None})
        values = _row_values(new)
        if row is not None and tuple(row[k] for k in _COMPARED) == values:
            return ConsentChange(cid, "unchanged", new)
        self.db.execute("DELETE FROM identifier_keys WHERE customer_id = ?", (cid,))
        self.db.conn.executemany(
            "INSERT INTO identifier_keys (match_key, customer_id, kind) VALUES (?, ?, ?)",
            [(k, cid, kind) for k, kind in keys],
        )
        self._write_row(new, gen, now, created=row["created_at"] if row else now)
        return ConsentChange(cid, "added" if row is None else "updated", new)

    def _write_row(self, c: Customer, gen: int, now: float, created: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO customers (customer_id, consent, purpose, segments, identifiers, expires_at,"
            " consented_at, revoked_at, created_at, updated_at, generation) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (c.customer_id, *_row_values(c), created, now, gen),
        )


_COMPARED = ("consent", "purpose", "segments", "identifiers", "expires_at", "consented_at", "revoked_at")


def _row_values(c: Customer) -> tuple[Any, ...]:
    """The stored columns of a record, in _COMPARED order."""
    d = c.storage_dict()
    return (
        int(c.consent),
        c.purpose,
        json.dumps(d["segments"]),
        json.dumps(d["identifiers"]),
        c.expires_at,
        c.consented_at,
        c.revoked_at,
    )


def _tombstone(customer_id: str, purpose: str, revoked_at: float | None) -> Customer:
    """A revoked customer's record; the purpose comes from the stored row, which a later version's limits (control
    characters) must not turn into an error that blocks the revocation."""
    return Customer.model_validate(
        {"customer_id": customer_id, "consent": False, "purpose": purpose, "revoked_at": revoked_at}, context=STORED
    )


def _withdrawal(obj: object) -> Customer | None:
    """The bare withdrawal {"customer_id", "consent": false} a message amounts to, or None if it is none."""
    if not isinstance(obj, dict) or obj.get("consent") is not False:
        return None
    try:
        return parse_record({"customer_id": obj.get("customer_id"), "consent": False})
    except RecordError:  # no usable customer id: nobody to withdraw
        return None
