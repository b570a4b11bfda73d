"""Reading customers files (SPEC section 6): JSON Lines, or CSV for people who keep customers in a spreadsheet.

Pure parsing: records in, `Customer`s and one-line problems out. A bad row never stops the read; each
problem names file, line and field, and never echoes a value (a rejected value may be a key).

CSV layout (a header row, then one customer a row; column order is free, unknown columns are an error):

    customer_id,consent,segments,purpose,expires_at,consented_at,identifiers,token,irk,ibeacon,eddystone_uid,address

- `customer_id`, `consent` are required; consent is true/false (also yes/no, 1/0).
- `segments`: names separated by `;`.  `expires_at`, `consented_at`: epoch seconds or ISO date/datetime (UTC).
- `identifiers`: `kind:value` items separated by `;`, or a JSON array of SPEC identifier objects.
- `token`, `irk`, `ibeacon`, `eddystone_uid`, `address`: the value alone, several separated by `;`.
- Values: token = secret hex; irk = 32 hex; ibeacon = UUID:MAJOR:MINOR; eddystone_uid = NAMESPACE:INSTANCE
  (20 and 12 hex); address = AA:BB:CC:DD:EE:FF.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.identity.irk import chance_match_note
from gateway.identity.models import IDENTIFIER_KEYS, IDENTIFIER_KINDS, Customer, count_irks, format_record_errors

CSV_COLUMNS = (
    "customer_id",
    "consent",
    "segments",
    "purpose",
    "expires_at",
    "consented_at",
    "identifiers",
    *IDENTIFIER_KINDS,
)
CSV_LIST_SEPARATOR = ";"
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_SAFE_WORD = re.compile(r"^[a-z_]{1,20}$")  # short lowercase words (a misspelt kind) may be echoed: keys cannot


class RecordError(ValueError):
    """A record failed validation; `problems` are 'field: message' lines without values."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ParsedRecord:
    line: int
    customer: Customer


@dataclass
class CustomersFile:
    records: list[ParsedRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file: line N: field: message"
    notes: list[str] = field(default_factory=list)  # rows imported with keys ignored
    rows: int = 0  # non-blank data rows seen
    rejected: int = 0  # rows with at least one problem (not imported)
    irks: int = 0  # consenting customers' IRKs (chance_match_note)

    @property
    def customers(self) -> list[Customer]:
        return [r.customer for r in self.records]


def parse_record(obj: object) -> Customer:
    """A SPEC section 6 record (a dict from JSON) -> Customer, or RecordError naming each bad field."""
    return parse_record_noting(obj)[0]


def parse_record_noting(obj: object) -> tuple[Customer, list[str]]:
    """`parse_record`, and the record's keys it ignored. A CRM's export or consent message may carry more than
    SPEC section 6's keys (an e-mail, an updated_at): rejecting the record for them left an opted-in customer
    unrecognised. They are ignored and named, so a misspelt key (exprires_at) is still seen."""
    if not isinstance(obj, dict):
        raise RecordError(["(record): must be a JSON object"])
    extra = [k for k in obj if k not in Customer.model_fields]
    if extra:
        obj = {k: v for k, v in obj.items() if k in Customer.model_fields}
    idents = obj.get("identifiers")
    if isinstance(idents, list):
        # the same within an identifier: a CRM's device label beside a token lost the customer their coupons
        kept = []
        for i, ident in enumerate(idents):
            kind = ident.get("kind") if isinstance(ident, dict) else None
            keys = IDENTIFIER_KEYS.get(kind) if isinstance(kind, str) else None
            if keys is not None and any(k not in keys for k in ident):
                extra += [f"identifiers[{i}].{k}" for k in ident if k not in keys]
                kept.append({k: v for k, v in ident.items() if k in keys})
            else:
                kept.append(ident)
        obj = {**obj, "identifiers": kept}
    try:
        return Customer.model_validate(obj), extra
    except ValidationError as e:
        raise RecordError(format_record_errors(e)) from None


def identifier_from_item(kind: str, value: str) -> dict[str, Any]:
    """One CSV identifier value of `kind` -> a SPEC identifier object (validated later by the model)."""
    if kind == "token":
        return {"kind": "token", "secret": value}
    if kind == "irk":
        return {"kind": "irk", "irk": value}
    if kind == "address":
        return {"kind": "address", "address": value}
    if kind == "ibeacon":
        parts = value.split(":")
        if len(parts) != 3:
            raise ValueError("ibeacon must be UUID:MAJOR:MINOR")
        try:
            major, minor = int(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError("ibeacon major and minor must be integers") from None
        return {"kind": "ibeacon", "uuid": parts[0], "major": major, "minor": minor}
    if kind == "eddystone_uid":
        parts = value.split(":")
        if len(parts) == 1 and len(value) == 32:
            parts = [value[:20], value[20:]]
        if len(parts) != 2:
            raise ValueError("eddystone_uid must be NAMESPACE:INSTANCE (20 and 12 hex digits)")
        return {"kind": "eddystone_uid", "namespace": parts[0], "instance": parts[1]}
    shown = f" '{kind}'" if _SAFE_WORD.match(kind) else ""
    raise ValueError(f"unknown kind{shown} (expected one of {', '.join(IDENTIFIER_KINDS)})")


def _split(cell: str) -> list[str]:
    return [p.strip() for p in cell.split(CSV_LIST_SEPARATOR) if p.strip()]


def csv_row_to_record(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row (header -> cell) -> a SPEC record dict. Raises RecordError for cells the model cannot see."""
    problems: list[str] = []
    rec: dict[str, Any] = {"customer_id": (row.get("customer_id") or "").strip()}
    consent = (row.get("consent") or "").strip().lower()
    if consent in _TRUE:
        rec["consent"] = True
    elif consent in _FALSE:
        rec["consent"] = False
    else:
        problems.append("consent: must be true or false" if consent else "consent: missing")
    if row.get("segments"):
        rec["segments"] = _split(row["segments"])
    for key in ("purpose", "expires_at", "consented_at"):
        if (row.get(key) or "").strip():
            rec[key] = row[key].strip()
    identifiers: list[Any] = []
    cell = (row.get("identifiers") or "").strip()
    if cell.startswith("["):
        try:
            loaded = json.loads(cell)
        except json.JSONDecodeError:
            problems.append("identifiers: invalid JSON array")
        else:
            if isinstance(loaded, list):
                identifiers.extend(loaded)
            else:
                problems.append("identifiers: must be a JSON array")
    elif cell:
        for item in _split(cell):
            kind, sep, value = item.partition(":")
            try:
                if not sep:
                    raise ValueError("must be kind:value")
                identifiers.append(identifier_from_item(kind.strip(), value.strip()))
            except ValueError as e:
                problems.append(f"identifiers[{len(identifiers)}]: {e}")
    for kind in IDENTIFIER_KINDS:
        for value in _split(row.get(kind) or ""):
            try:
                identifiers.append(identifier_from_item(kind, value))
            except ValueError as e:
                problems.append(f"{kind}: {e}")
    if identifiers:
        rec["identifiers"] = identifiers
    if problems:
        raise RecordError(problems)
    return rec


def _iter_jsonl(text: str) -> Iterator[tuple[int, object | RecordError]]:
    # JSON Lines ends a line at "\n" only: splitlines() would also cut at U+2028 or U+0085 inside a string
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except (ValueError, RecursionError):
            yield n, RecordError(["(record): invalid JSON"])


def _swallowed_rows(cell: str) -> bool:
    """A cell whose later lines hold commas: whole rows read into it by a quote that was never closed (a quoted
    cell may span lines on purpose, as a purpose text does; it does not carry further rows)."""
    return any("," in part for part in cell.split("\n")[1:])


def _iter_csv(text: str, path: Path, out: CustomersFile) -> Iterator[tuple[int, object | RecordError]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [h for h in header if h not in CSV_COLUMNS]
    missing = [h for h in ("customer_id", "consent") if h not in header]
    # a column named twice: csv.DictReader keeps the last cell of each row, and the first was dropped unseen
    repeated = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or repeated:
        if unknown:
            out.problems.append(f"{path}: line 1: header: unknown column(s) {', '.join(map(repr, unknown))}")
        if missing:
            out.problems.append(f"{path}: line 1: header: missing column(s) {', '.join(missing)}")
        if repeated:
            out.problems.append(
                f"{path}: line 1: header: column(s) {', '.join(map(repr, repeated))} named twice; for several "
                "identifiers of one kind use the 'identifiers' column"
            )
        return
    start = 2
    for row in reader:
        line, start = start, reader.line_num + 1
        if reader.line_num > line and any(_swallowed_rows(v) for v in row.values() if isinstance(v, str)):
            # a quote opened and not closed reads the following lines into one cell: say which lines went
            yield (
                line,
                RecordError(
                    [
                        f"(row): a quote opened here is not closed, so lines {line}-{reader.line_num} were read as "
                        "one row"
                    ]
                ),
            )
            continue
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:  # more cells than header columns
            yield line, RecordError(["(row): more cells than header columns"])
            continue
        try:
            yield line, csv_row_to_record({k: v or "" for k, v in row.items()})
        except RecordError as e:
            yield line, e


def looks_like_csv(path: Path, text: str) -> bool:
    if path.suffix.lower() == ".csv":
        return True
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return False
    return not text.lstrip().startswith("{")


def parse_customers_text(text: str, path: Path) -> CustomersFile:
    out = CustomersFile()
    rows = _iter_csv(text, path, out) if looks_like_csv(path, text) else _iter_jsonl(text)
    first_line: dict[str, int] = {}
    kept_index: dict[str, int] = {}  # where in out.records each customer's kept row is
    for line, obj in rows:
        out.rows += 1
        try:
            if isinstance(obj, RecordError):
                raise obj
            customer, extra = parse_record_noting(obj)
        except RecordError as e:
            out.problems.extend(f"{path}: line {line}: {p}" for p in e.problems)
            out.rejected += 1
            continue
        if extra:
            out.notes.append(f"{path}: line {line}: {', '.join(map(str, extra))}: not a customer record key; ignored")
        cid = customer.customer_id
        seen = first_line.get(cid)
        if seen is None:
            first_line[cid] = line
            kept_index[cid] = len(out.records)
            out.records.append(ParsedRecord(line, customer))
            continue
        out.rejected += 1
        kept = out.records[kept_index[cid]]
        if kept.customer.consent and not customer.consent:
            # the customer said no somewhere in the file: a grant elsewhere in it must not override that, whatever
            # the order (an export appended to, two lists merged)
            out.records[kept_index[cid]] = ParsedRecord(line, customer)
            why = f"this row withdraws consent, so it is kept instead of line {kept.line}"
        elif kept.line == seen:
            why = "the first is kept"
        else:
            why = f"line {kept.line}, which withdraws consent, is kept"
        out.problems.append(f"{path}: line {line}: customer_id: duplicate of line {seen} ({why})")
    out.irks = irks = count_irks(r.customer for r in out.records)
    if (note := chance_match_note(irks)) is not None:
        out.notes.append(f"{path}: {note}")
    return out


def read_customers_file(path: Path) -> CustomersFile:
    """Parses a customers file; unreadable files give one problem and no records."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return CustomersFile(problems=[f"{path}: file not found"])
    except OSError as e:
        return CustomersFile(problems=[f"{path}: cannot read: {e.strerror}"])
    try:
        return parse_customers_text(data.decode("utf-8-sig"), path)
    except UnicodeDecodeError:
        pass
    # Some rows are not UTF-8 (a spreadsheet saved as Latin-1): those rows are named and rejected, the rest is
    # read. A rejected row's line stays in place, empty, so every other line keeps its number.
    lines, bad = [], []
    for n, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append("")
            bad.append(n)
    out = parse_customers_text("\n".join(lines), path)
    out.problems[:0] = [f"{path}: line {n}: not UTF-8 text (save the file as UTF-8)" for n in bad]
    out.rows += len(bad)
    out.rejected += len(bad)
    return out
