"""`proximity-gateway calibrate fit|evaluate`: thin commands over gateway.zones.calibrate."""

from __future__ import annotations

import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from gateway.adverts import DEFAULT_TOKEN_COMPANY_ID, Advert
from gateway.cli_console import cli_console
from gateway.config import DEFAULT_CONFIG_DIR
from gateway.setup import input_warnings, left_out_warnings
from gateway.sources.recording import Header, ReadStats, RecordingError, RecordingReader
from gateway.truth import OUTSIDE, TruthError, TruthInterval, never_recognised_note, read_truth
from gateway.zones.calibrate import fit
from gateway.zones.evaluate import evaluate
from gateway.zones.layout import LayoutError, load_layout
from gateway.zones.model import ZoneModel, ZonesError
from gateway.zones.report import weak_zone_advice
from gateway.zones.samples import DeviceMatcher, readings
from gateway.zones.walkcheck import (
    CalibrationError,
    check_time_span,
    outside_span,
    unknown_truth_zones,
    unscorable_outside,
)

calibrate_app = typer.Typer(help="Zone calibration: fit a zone model from a labelled walk, score it.")
_err = cli_console(stderr=True, soft_wrap=True)
_out = cli_console(soft_wrap=True)


def _fail(msg: str) -> typer.Exit:
    _err.print(f"error: {msg}", markup=False)
    return typer.Exit(1)


def _load(scans: Path, truth: Path) -> tuple[Header, list[Advert], list[TruthInterval], ReadStats]:
    try:
        with RecordingReader(scans, sort_all=True) as reader:
            adverts = list(reader)
            header = reader.header
            for p in reader.stats.problems:
                _err.print(f"warning: {p}", markup=False)
    except RecordingError as e:
        raise _fail(str(e)) from None
    try:
        intervals = read_truth(truth)
    except TruthError as e:
        raise _fail(str(e)) from None
    if not intervals:
        raise _fail(f"{truth}: no truth intervals")
    return header, adverts, intervals, reader.stats


ScansOpt = Annotated[Path, typer.Option("--scans", help="Scan recording of the labelled walk (.jsonl or .jsonl.gz).")]
TruthOpt = Annotated[Path, typer.Option("--truth", help="Ground truth intervals (JSON Lines).")]


CustomersOpt = Annotated[
    Path | None,
    typer.Option(
        "--customers",
        help="Customers file or the gateway's registry.db, when the truth names customers (a walk with the "
        "store app, or a store day); default: customers.jsonl next to the scans, if the truth's devices are not "
        "addresses.",
    ),
]
ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="Configuration directory: its gateway.toml's [recognition] token_company_id recognises the store "
        "app's tokens when the truth names customers (without gateway.toml there, the SPEC default 0xFFFF).",
    ),
]


def _token_company_id(config: Path) -> int:
    """The store app's token company id from gateway.toml: a walk made with an app that uses another id than the
    SPEC default would otherwise go unrecognised, or a store day's token customers be left out of the score."""
    from gateway.config import ConfigError, load_gateway_config

    if not (config / "gateway.toml").is_file():
        if config != DEFAULT_CONFIG_DIR:
            raise _fail(f"{config / 'gateway.toml'}: file not found (--config)")
        return DEFAULT_TOKEN_COMPANY_ID
    try:
        return load_gateway_config(config).recognition.token_company_id
    except ConfigError as e:
        raise _fail("; ".join(e.problems)) from None


def _as_truth_devices(
    scans: Path, adverts: list[Advert], intervals: list[TruthInterval], customers: Path | None, config: Path
) -> tuple[list[Advert], frozenset[str]]:
    """The adverts, under the names the truth uses: addresses and iBeacon ids as they are, customer ids
    through the customers file (recognised as the gateway would); and the customers it lists without consent,
    whom the gateway rightly never recognises."""
    devices = sorted({iv.device for iv in intervals})
    named = ", ".join(devices[:3]) + (f" (and {len(devices) - 3} more)" if len(devices) > 3 else "")
    if customers is None and not any(True for _ in readings(adverts, intervals)):
        beside = scans.parent / "customers.jsonl"
        if not beside.is_file():
            if adverts:  # SPEC section 5's device is a customer id: say where its identity is looked for
                raise _fail(
                    f"{scans}: no advertisement of any truth device: the truth names {named}, which no address or "
                    "iBeacon id in the recording matches; if those are customers (a walk with the store app, a tag "
                    "in the customers file), pass --customers FILE (a customers file or the gateway's registry.db) "
                    "or put customers.jsonl next to the scans"
                )
            return adverts, frozenset()
        customers = beside
    if customers is None:
        return adverts, frozenset()
    recognised, declined = _recognise(adverts, customers, _token_company_id(config))
    if adverts and not recognised:
        # a mistyped tag address next to a customers file: not "the recording holds no advertisement"
        raise _fail(
            f"{scans}: no advertisement of any truth device in the scans (check addresses/identities): the truth "
            f"names {named}, and {customers} recognises none of the recording's advertisements"
        )
    return recognised, declined


def _truth_devices_never_heard(adverts: list[Advert], intervals: list[TruthInterval]) -> list[str]:
    """The truth's devices (those with an interval in the recording's span) that no advertisement matches."""
    matcher = DeviceMatcher({iv.device for iv in intervals})
    heard = {d for a in adverts if (d := matcher.device_of(a)) is not None}
    return sorted({iv.device for iv in intervals} - heard)


# why a truth that names a tag by address next to customers is scored without the tag
CUSTOMERS_ONLY = "with --customers, the truth's devices are matched as customers only, not by address"
REPORT_SUFFIXES = (".png", ".svg", ".pdf")


class FitMethod(StrEnum):
    offset_nb = "offset_nb"
    grid = "grid"
    auto = "auto"


@calibrate_app.command("fit")
def fit_command(
    scans: ScansOpt,
    truth: TruthOpt,
    out: Annotated[Path, typer.Option("--out", help="Zones file to write (zones.toml).")],
    report: Annotated[
        Path | None, typer.Option("--report", help="PNG report (default: next to the zones file).")
    ] = None,
    method: Annotated[
        FitMethod,
        typer.Option(
            "--method",
            help="offset_nb: fingerprints (default); grid: floor-grid positioning (needs zone polygons and "
            "receiver positions in the recording header); auto: the grid only where it cross-validates clearly "
            "better. See docs/zones.md.",
        ),
    ] = FitMethod.offset_nb,
    customers: CustomersOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG_DIR,
    layout: Annotated[
        Path | None,
        typer.Option(
            "--layout",
            help="The store's floor plan (TOML: [[receiver]] id, x, y and [[zone]] name, polygon, in metres; the "
            "store file `proximity-sim ceiling` reads). A live walk's recording has no positions: with them the "
            "fit checks which zones have a receiver, draws the plan in the report and can fit the floor grid. "
            "Replaces positions in the recording's header.",
        ),
    ] = None,
) -> None:
    """Fit the zone model from a labelled calibration walk and write the zones file."""
    if report is not None and not report.suffix:
        report = report.with_suffix(".png")  # what the plotter writes anyway; the message names the real file
    elif report is not None and report.suffix.lower() not in REPORT_SUFFIXES:
        # checked before the fit: the plotter refuses other formats only after the zones are written
        _err.print(f"error: --report {report}: name the picture .png (or .svg, .pdf)", markup=False)
        raise typer.Exit(2)
    plan = None
    if layout is not None:
        try:
            plan = load_layout(layout)
        except LayoutError as e:
            raise _fail(str(e)) from None
    header, adverts, intervals, stats = _load(scans, truth)
    if stats.truncated and adverts:
        intervals = _before_the_cut(scans, adverts, intervals)
    adverts, _ = _as_truth_devices(scans, adverts, intervals, customers, config)
    receivers = plan.receivers if plan is not None else header.receivers or None
    zone_positions = plan.zones if plan is not None else header.zone_geometry()
    try:
        result = fit(adverts, intervals, receivers, zone_positions=zone_positions, method=method.value)
    except CalibrationError as e:
        raise _fail(f"{truth if e.about == 'truth' else scans}: {e}") from None
    for w in result.warnings:
        _err.print(f"warning: {w}", markup=False)
    try:
        result.model.save(out)
    except OSError as e:
        raise _fail(f"{out}: cannot write: {e}") from None
    r = result.report
    p = result.model.params
    _out.print(
        f"wrote {out}: {_count(len(result.model.zones), 'zone')}, {_count(len(result.model.receivers), 'receiver')}, "
        f"{r['readings']} readings; cross-validated accuracy {r['cv_accuracy']:.3f}, unknown "
        f"{r['cv_unknown_share']:.3f} "
        f"({p.smoothing} {p.window_s:g} s, switch time {p.switch_time_s:g} s, "
        f"confidence threshold {p.confidence_threshold:.2f})"
    )
    # staff read the figure as what the store will get; it scores the walk's own spots with the walk's own device
    _out.print(
        "that figure scores held-out parts of this walk, at the spots it stood at; a day's shoppers stand elsewhere "
        "with other phones: on 30 days from a generator not ours the day scored 7 points lower on average, from 33 "
        "lower to 27 higher (docs/zones.md, round 24). `calibrate evaluate` on a labelled day measures it",
        markup=False,
    )
    for line in weak_zone_advice(result.model, r):
        _out.print(line, markup=False)
    blend = r.get("centroid_blend_cv_gain_and_se")
    if blend is not None and p.centroid_blend == 0:
        _out.print(
            f"centroid term off: on this walk, reading a silent receiver as a quiet one cost "
            f"{-100 * blend[0]:.1f} points of held-out accuracy (standard error {100 * blend[1]:.1f}); docs/zones.md",
            markup=False,
        )
    png = report if report is not None else out.with_suffix(".png")
    try:
        from gateway.zones.report import write_report

        notes: list[str] = []
        if write_report(result.model, r, png, notes):
            _out.print(f"wrote {png}")
            for note in notes:
                _err.print(f"warning: {note}", markup=False)
        else:  # staff asked for the picture (or expect it beside zones.toml): say why there is none
            _err.print(
                f"warning: {png}: report not written: matplotlib is not installed "
                "(pip install 'proximity-gateway[plots]')",
                markup=False,
            )
    except OSError as e:
        _err.print(f"warning: {png}: report not written: {e}", markup=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _share(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _before_the_cut(scans: Path, adverts: list[Advert], intervals: list[TruthInterval]) -> list[TruthInterval]:
    """The truth intervals a recording cut short (a full disk, a crash) still covers. A zone walked only after
    the cut cannot be fitted: that is the recording's fault, and the error says so rather than blaming the truth."""
    end = max(a.t for a in adverts)
    late = [iv for iv in intervals if iv.t_start > end]
    if not late:
        return intervals
    kept = [iv for iv in intervals if iv.t_start <= end]
    lost = sorted({iv.zone for iv in late} - {iv.zone for iv in kept} - {OUTSIDE})
    if lost:
        raise _fail(
            f"{scans}: the recording is cut short (it ends at {end:.1f}); zone(s) {', '.join(map(repr, lost))} "
            "were walked only after that: record the walk again"
        )
    _err.print(
        f"warning: {scans}: the recording is cut short (it ends at {end:.1f}); {len(late)} truth intervals start "
        "after that and are not used",
        markup=False,
    )
    return kept


SQLITE_MAGIC = b"SQLite format 3\x00"


def _recognise(adverts: list[Advert], customers: Path, token_company_id: int) -> tuple[list[Advert], frozenset[str]]:
    """Store-day truth names customers: recognise their adverts as the gateway would, keep only those.
    `customers` is a customers file (SPEC section 6) or the gateway's consent registry (registry.db)."""
    from gateway.identity.importer import read_customers_file
    from gateway.identity.models import Customer
    from gateway.identity.registry import Registry, RegistryError
    from gateway.identity.resolver import Resolver

    people: list[Customer]
    declined: frozenset[str] = frozenset()  # a registry keeps no record of who declined
    try:
        with customers.open("rb") as f:
            is_registry = f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError as e:
        raise _fail(f"{customers}: cannot read: {e.strerror or e}") from None
    if is_registry:
        try:
            with Registry(customers) as registry:
                people = registry.consenting()
        except RegistryError as e:
            raise _fail(str(e)) from None
        if not people:
            raise _fail(f"{customers}: no consenting customers in the registry")
    else:
        parsed = read_customers_file(customers)
        if not parsed.records:
            raise _fail(parsed.problems[0] if parsed.problems else f"{customers}: no customers")
        for problem in parsed.problems:  # the rest is read: a bad row is one customer whose walk or visits go unseen
            _err.print(f"warning: {problem}", markup=False)
        people = [c for c in parsed.customers if c.consent]
        declined = frozenset(c.customer_id for c in parsed.customers if not c.consent)
    resolver = Resolver(people, token_company_id=token_company_id)
    out = []
    for a in adverts:
        cid = resolver.match(a)
        if cid is not None:
            out.append(Advert(a.t, a.rx, cid, a.rssi))
    return out, declined


@calibrate_app.command("evaluate")
def evaluate_command(
    scans: ScansOpt,
    truth: TruthOpt,
    zones: Annotated[Path, typer.Option("--zones", help="Zones file (zones.toml) to score.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    customers: CustomersOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG_DIR,
) -> None:
    """Score a zones file against labelled scans."""
    try:
        model = ZoneModel.load(zones)
    except ZonesError as e:
        for problem in e.problems[:-1]:
            _err.print(f"error: {problem}", markup=False)
        raise _fail(e.problems[-1]) from None
    header, adverts, intervals, stats = _load(scans, truth)
    # Scoring what overlaps is worth more than refusing the lot: a recording cut short (a full disk, a crash), or
    # a truth whose last stays begin after the last advertisement. A truth with nothing in the recording's span
    # belongs to another recording: that stays an error.
    if outside := outside_span(adverts, intervals):
        if len(outside) == sum(iv.zone != OUTSIDE for iv in intervals):
            try:
                check_time_span(adverts, intervals)
            except CalibrationError as e:
                raise _fail(f"{scans}: {e}") from None
        end = max(a.t for a in adverts)
        if all(iv.t_start > end for iv in outside):  # the recording stopped early: not the truth's fault
            cut = "is cut short and ends" if stats.truncated else "ends"
            _err.print(
                f"warning: {scans}: the recording {cut} at {end:.3f}, before {len(outside)} of the truth's intervals "
                f"({truth}); they are not scored",
                markup=False,
            )
        else:
            _err.print(
                f"warning: {truth}: {len(outside)} truth intervals lie outside the recording; they are not scored",
                markup=False,
            )
        gone = set(map(id, outside))
        intervals = [iv for iv in intervals if id(iv) not in gone]
    adverts, declined = _as_truth_devices(scans, adverts, intervals, customers, config)
    never = [d for d in _truth_devices_never_heard(adverts, intervals) if d not in declined]
    heard = Counter(a.rx for a in adverts)
    if heard and not any(rx in heard for rx in model.receivers):
        # every estimate would be unknown: a zones file of another store (or receivers renamed), not a score
        raise _fail(
            f"{scans}: none of the receivers of {zones} ({', '.join(model.receivers)}) hears a truth device here; "
            f"the recording's are {', '.join(sorted(heard))}: a zones file of another store, or receivers renamed?"
        )
    if silent := [rx for rx in model.receivers if rx not in heard]:
        _err.print(
            f"warning: {scans}: receivers of {zones} that never hear a truth device here: {', '.join(silent)} "
            "(renamed, moved or switched off?)",
            markup=False,
        )
    unknown_rx = {rx: n for rx, n in heard.items() if rx not in model.receivers}
    for w in input_warnings(header, None, unknown_rx, zones):  # the same words as replay's
        _err.print(f"warning: {scans}: {w}", markup=False)
    if (unknown := unknown_truth_zones(model.classes, intervals, zones)) is not None:
        _err.print(f"warning: {truth}: {unknown}", markup=False)
    if (street := unscorable_outside(model.classes, intervals, zones)) is not None:
        _err.print(f"warning: {truth}: {street}", markup=False)
    result = evaluate(model, adverts, intervals)
    # proximity-sim evaluate's words: a device the recogniser missed has no sample, and the scores say nothing of it
    result["truth_devices_unrecognised"] = len(never)
    if never and result["samples"]:
        hint = f" (check their identifiers; {CUSTOMERS_ONLY})"
        note = never_recognised_note(truth, never, len({iv.device for iv in intervals}), hint)
        _err.print(f"warning: {note}", markup=False)
    if (level := result.pop("device_level_warning")) is not None:
        _err.print(f"warning: {scans}: {level}", markup=False)
    for w in left_out_warnings(result["receivers_left_out_s"]):  # the same words as replay's
        _err.print(f"warning: {scans}: {w}", markup=False)
    result["skipped_lines"] = stats.skipped
    if result["samples"] == 0:
        why = (
            f": none of {', '.join(never[:3])} was recognised ({CUSTOMERS_ONLY})"
            if customers is not None and never
            else ""
        )
        raise _fail(f"{scans}: no advertisement of a truth device falls inside a truth interval{why}")
    if as_json:
        typer.echo(json.dumps(result, separators=(",", ":")))
        return
    _out.print(
        f"zone accuracy {result['zone_accuracy']:.3f} over {result['samples']} samples; "
        f"unknown {result['unknown_share']:.3f}; flaps {result['flap_rate_per_min']:.2f}/min; "
        + (
            f"decision latency {latency} s"
            if (latency := result["decision_latency_s"]) is not None
            else "decision latency - (no zone change to decide)"
        )
        + (f"; {stats.skipped} lines of the recording skipped" if stats.skipped else "")
    )
    table = Table("zone", "precision", "recall", "samples")
    for z, m in result["per_zone"].items():
        table.add_row(escape(z), _share(m["precision"]), _share(m["recall"]), str(m["support"]))
    _out.print(table)
