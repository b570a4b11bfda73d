"""Converts the public UCI "BLE RSSI Dataset for Indoor Localization" into a scan recording and a truth file.

In that data a phone listens and 13 iBeacons (b3001..b3013) transmit; a vector of RSSIs from fixed nodes
labelled with a place is the same problem as ours, so each beacon becomes a receiver and the phone one device
with a fixed address. Each CSV row becomes one advertisement per beacon heard (-200 = not heard: omitted).

Zones: the grid cells (a column letter and a row number, e.g. "J04") are grouped into blocks of
`COLS_PER_ZONE` letters by `ROWS_PER_ZONE` numbers: A-D x 01-05 is zone "A-D/01-05", I-L x 06-10 is
"I-L/06-10", and so on. The rule needs no list of cells, so it places cells never seen (later walks) too.

    python -m simulator.uci CSV --out DIR [--split 0.7]

writes DIR/scans.jsonl.gz + DIR/truth.jsonl (everything) and, split by walk in time order (the first walks
until `split` of the rows, the rest), DIR/fit.jsonl.gz + DIR/fit-truth.jsonl and
DIR/evaluate.jsonl.gz + DIR/evaluate-truth.jsonl: the evaluation part holds only walks never fitted on.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.adverts import Advert
from gateway.sources.recording import Header, RecordingWriter
from gateway.truth import TruthInterval, write_truth

PHONE_ADDR = "02:00:00:0B:1E:01"  # locally administered: obviously not a real device
NOT_HEARD = -200
SOURCE = "UCI BLE RSSI Dataset for Indoor Localization (M. Mohammadi, A. Al-Fuqaha)"
COLS_PER_ZONE = 4
ROWS_PER_ZONE = 5
WALK_GAP_S = 300.0  # rows further apart than this belong to different walks
INTERVAL_GAP_S = 30.0  # a truth interval never spans a pause longer than this: nobody knows where the phone was
CELL_RE = re.compile(r"^([A-Za-z])(\d{1,3})$")
DATE_FORMATS = ("%m-%d-%Y %H:%M:%S", "%m-%d-%Y %H:%M")


class UciError(Exception):
    """The CSV cannot be converted; the message names file, line and field."""


def cell_zone(cell: str) -> str:
    """The zone of a grid cell: blocks of COLS_PER_ZONE letters by ROWS_PER_ZONE numbers."""
    m = CELL_RE.match(cell.strip())
    if m is None:
        raise ValueError(f"not a grid cell: {cell!r}")
    col = ord(m.group(1).upper()) - ord("A")
    row = int(m.group(2))
    c0 = col - col % COLS_PER_ZONE
    c1 = min(c0 + COLS_PER_ZONE - 1, 25)
    r0 = (row - 1) // ROWS_PER_ZONE * ROWS_PER_ZONE + 1 if row >= 1 else 0
    r1 = r0 + ROWS_PER_ZONE - 1
    return f"{chr(65 + c0)}-{chr(65 + c1)}/{r0:02d}-{r1:02d}"


@dataclass(frozen=True, slots=True)
class Row:
    t: float
    cell: str
    rssi: dict[str, int]  # beacon -> RSSI, heard ones only


def parse_time(text: str) -> tuple[float, float]:
    """(epoch seconds UTC, resolution in seconds) of a `month-day-year H:M[:S]` stamp."""
    for fmt in DATE_FORMATS:
        try:
            dt = datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return dt.timestamp(), 1.0 if fmt.endswith("%S") else 60.0
    raise ValueError(f"not a month-day-year time: {text!r}")


def read_rows(csv_path: str | Path) -> list[Row]:
    """The rows in time order. Rows sharing a stamp are spread evenly over the stamp's resolution."""
    p = Path(csv_path)
    try:
        f = p.open(encoding="utf-8", newline="")
    except OSError as e:
        raise UciError(f"{p}: cannot read: {e}") from None
    raw: list[tuple[float, float, int, str, dict[str, int]]] = []
    with f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        beacons = [c for c in fields if c.lower().startswith("b")]
        if "location" not in fields or "date" not in fields or not beacons:
            raise UciError(f"{p}:1: expected columns location, date, b3001..; got {', '.join(fields)}")
        for n, rec in enumerate(reader, 2):
            try:
                t, res = parse_time(rec["date"] or "")
            except ValueError as e:
                raise UciError(f"{p}:{n}: field 'date': {e}") from None
            cell = (rec["location"] or "").strip()
            if CELL_RE.match(cell) is None:
                raise UciError(f"{p}:{n}: field 'location': not a grid cell: {cell!r}")
            heard: dict[str, int] = {}
            for b in beacons:
                try:
                    v = int(float(rec[b] or NOT_HEARD))
                except ValueError:
                    raise UciError(f"{p}:{n}: field '{b}': not a number: {rec[b]!r}") from None
                if v != NOT_HEARD and -127 <= v <= 20:
                    heard[b] = v
            raw.append((t, res, -n, cell, heard))  # -n: the file lists newest first, so later lines are older
    raw.sort(key=lambda r: (r[0], r[2]))
    rows: list[Row] = []
    i = 0
    while i < len(raw):
        j = i
        while j < len(raw) and raw[j][0] == raw[i][0]:
            j += 1
        k = j - i
        for m in range(i, j):
            # spread duplicates over the stamp's resolution (a minute-only stamp hides rows ~2 s apart)
            t = raw[m][0] + (m - i) * raw[m][1] / k
            rows.append(Row(t, raw[m][3], raw[m][4]))
        i = j
    return rows


def walks(rows: Sequence[Row]) -> list[list[Row]]:
    out: list[list[Row]] = []
    for r in rows:
        if not out or r.t - out[-1][-1].t > WALK_GAP_S:
            out.append([])
        out[-1].append(r)
    return out


def truth_of(rows: Sequence[Row], zone_of: Callable[[str], str]) -> list[TruthInterval]:
    """Runs of rows in one zone become intervals; a long pause ends an interval."""
    out: list[TruthInterval] = []
    start: Row | None = None
    last: Row | None = None
    for r in rows:
        if start is None or last is None:
            start = last = r
            continue
        if zone_of(r.cell) != zone_of(start.cell) or r.t - last.t > INTERVAL_GAP_S:
            out.append(TruthInterval(PHONE_ADDR, zone_of(start.cell), start.t, last.t))
            start = r
        last = r
    if start is not None and last is not None:
        out.append(TruthInterval(PHONE_ADDR, zone_of(start.cell), start.t, last.t))
    return out


def write_part(rows: Sequence[Row], out_dir: Path, stem: str, zone_of: Callable[[str], str]) -> tuple[Path, Path]:
    scans = out_dir / f"{stem}.jsonl.gz"
    truth = out_dir / ("truth.jsonl" if stem == "scans" else f"{stem}-truth.jsonl")
    header = Header(
        store_id="uci-ble-rssi", source="UCI BLE RSSI Dataset for Indoor Localization (Mohammadi, Al-Fuqaha)"
    )
    with RecordingWriter(scans, header) as w:
        for r in rows:
            for b in sorted(r.rssi):
                w.write(Advert(round(r.t, 3), b, PHONE_ADDR, r.rssi[b]))
    write_truth(truth, truth_of(rows, zone_of))
    return scans, truth


def convert(csv_path: str | Path, out_dir: str | Path, zone_of: Callable[[str], str] = cell_zone) -> tuple[Path, Path]:
    """The whole CSV as DIR/scans.jsonl.gz and DIR/truth.jsonl."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_part(read_rows(csv_path), out, "scans", zone_of)


def convert_split(
    csv_path: str | Path, out_dir: str | Path, split: float = 0.7, zone_of: Callable[[str], str] = cell_zone
) -> dict[str, tuple[Path, Path]]:
    """Whole walks in time order: the first ones until `split` of the rows to fit on, the later ones to evaluate."""
    if not 0 < split < 1:
        raise UciError(f"--split must be between 0 and 1, got {split}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_rows(csv_path)
    fit_rows: list[Row] = []
    eval_rows: list[Row] = []
    for w in walks(rows):
        (fit_rows if len(fit_rows) < split * len(rows) else eval_rows).extend(w)
    if not fit_rows or not eval_rows:
        raise UciError(f"{csv_path}: too few walks to split")
    return {
        "all": write_part(rows, out, "scans", zone_of),
        "fit": write_part(fit_rows, out, "fit", zone_of),
        "evaluate": write_part(eval_rows, out, "evaluate", zone_of),
    }


def fold_walks(rows: Sequence[Row], k: int) -> list[list[list[Row]]]:
    """The walks in time order cut into `k` runs of whole walks holding about equal numbers of rows: each fold is
    scored once, fitted on the others (the data set is small, and one 70/30 split scores 299 samples)."""
    ws = walks(rows)
    if not 2 <= k <= len(ws):
        raise UciError(f"{k} folds need at least {k} walks and k >= 2; the file has {len(ws)} walks")
    total = sum(len(w) for w in ws)
    folds: list[list[list[Row]]] = [[] for _ in range(k)]
    f = done = 0
    for i, w in enumerate(ws):
        by_rows = min(done * k // total, k - 1)
        enough_left = k - (len(ws) - i)  # the latest fold this walk may go to and still leave one walk per fold
        if folds[f] and max(by_rows, enough_left) > f:
            f += 1  # folds are runs of walks in time order: never skip one
        folds[f].append(w)
        done += len(w)
    return folds


def convert_folds(
    csv_path: str | Path, out_dir: str | Path, k: int = 5, zone_of: Callable[[str], str] = cell_zone
) -> list[dict[str, tuple[Path, Path]]]:
    """Per fold, DIR/fit-K and DIR/evaluate-K (scans, truth): that fold's walks to score, the others' to fit on."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folds = fold_walks(read_rows(csv_path), k)
    parts = []
    for i, fold in enumerate(folds):
        rest = [r for j, other in enumerate(folds) if j != i for w in other for r in w]
        parts.append(
            {
                "fit": write_part(rest, out, f"fit-{i}", zone_of),
                "evaluate": write_part([r for w in fold for r in w], out, f"evaluate-{i}", zone_of),
            }
        )
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulator.uci", description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", type=Path, help="iBeacon_RSSI_Labeled*.csv")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument(
        "--split", type=float, default=0.7, help="share of rows (whole walks, earliest first) to fit on (default 0.7)"
    )
    args = ap.parse_args(argv)
    if not 0 < args.split < 1:  # a usage error (exit 2), as the other commands' out-of-range options are
        ap.error(f"--split must be between 0 and 1, got {args.split}")
    try:
        parts = convert_split(args.csv, args.out, args.split)
    except UciError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # --out not writable, or a file in the way: one line, not a traceback (SPEC 2)
        print(f"error: {e.filename or args.out}: cannot write: {e.strerror or e}", file=sys.stderr)
        return 1
    for name, (scans, truth) in parts.items():
        print(f"{name}: {scans} {truth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
