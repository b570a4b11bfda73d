"""`proximity-sim`: generate synthetic store days and score the gateway on them.

Errors reach the user as one line on stderr (exit 1; 2 for usage), never a traceback unless --debug.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from gateway.cli_console import cli_console
from gateway.cli_group import OneLineGroup
from gateway.sources.recording import not_a_file
from simulator import __version__

app = typer.Typer(
    cls=OneLineGroup,
    name="proximity-sim",
    help="Synthesise store days (scans, truth, customers, calibration walk, config) and score the gateway on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = cli_console(stderr=True)
out = cli_console()
_debug = False


def _print_version(value: bool) -> None:
    if value:
        out.print(f"proximity-sim {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    # eager: it answers before a command is required (otherwise "Missing command.", exit 2)
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    global _debug  # noqa: PLW0603 - one process-wide switch set once by the CLI entry point
    _debug = _debug or debug


def _fail(message: str, code: int = 1) -> typer.Exit:
    # a line per problem (a store file with two bad keys is two lines); not rich: it would wrap a long path
    sys.stderr.write("".join(f"error: {line}\n" for line in message.splitlines() or [message]))
    return typer.Exit(code)


def _expected_errors() -> tuple[type[BaseException], ...]:
    from gateway.config import ConfigError
    from gateway.sources.recording import RecordingError
    from gateway.truth import TruthError
    from simulator.store import StoreError

    errors: list[type[BaseException]] = [StoreError, RecordingError, TruthError, ConfigError, OSError, ValueError]
    try:  # the zone model's own errors, when the gateway's zone package provides them
        from gateway.zones.model import ZonesError
        from gateway.zones.walkcheck import CalibrationError

        errors += [CalibrationError, ZonesError]
    except ImportError:
        pass
    return tuple(errors)


def _message(e: BaseException) -> str:
    problems = getattr(e, "problems", None)
    if isinstance(problems, list) and problems:
        return "\n".join(str(p) for p in problems)
    return str(e).strip() or e.__class__.__name__


# The simulator's noise, for measuring under another radio (the wording: shadowing of 5 dB, phones of
# several dB apart, and nothing said of bodies: --shadowing-db 5 --body-loss-db 0; docs/zones.md, round 12)
ShadowingOption = Annotated[
    float | None,
    typer.Option(
        "--shadowing-db", min=0, max=20, help="Spread of the indoor shadowing in dB; default: the simulator's 4."
    ),
]
BodyLossOption = Annotated[
    float | None,
    typer.Option(
        "--body-loss-db",
        min=0,
        max=30,
        help="What the carrier's body costs a receiver behind them, in dB; default: the simulator's 9.",
    ),
]
# Phones of one kind differ by a constant offset (antenna, case, transmit power): how much, for measuring the zone
# model against a more (or less) varied crowd than the simulator's (docs/zones.md, round 20)
DeviceOffsetOption = Annotated[
    float | None,
    typer.Option(
        "--device-offset-db",
        min=0,
        max=20,
        help="Spread (standard deviation) of devices' constant RSSI offsets among devices of one kind, in dB; "
        "default: the simulator's 3.",
    ),
]


class WalkDevice(StrEnum):
    tag = "tag"
    phone = "phone"


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the day into (created if needed).")],
    store: Annotated[Path | None, typer.Option("--store", help="Store TOML; default: the built-in example.")] = None,
    shoppers: Annotated[int, typer.Option("--shoppers", min=0, help="Customers visiting during the day.")] = 40,
    duration: Annotated[
        float, typer.Option("--duration", min=1, max=7 * 86400, help="Length of the day in seconds (up to a week).")
    ] = 3600.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed, same files.")] = 0,
    strangers: Annotated[
        int | None, typer.Option("--strangers", min=0, help="Strangers' devices; default 4 per shopper.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    walk_device: Annotated[
        WalkDevice,
        typer.Option(
            "--walk-device",
            help="What the calibration walk carries: a tag in the hand (default) or a phone on the body, as "
            "shoppers carry theirs (docs/install-raspberry-pi.md recommends the phone).",
        ),
    ] = WalkDevice.tag,
    walk_seconds: Annotated[
        float,
        typer.Option(
            "--walk-seconds-per-zone",
            min=1,
            help="How long the calibration walk stands in each zone, spread over more points when longer; "
            "default: 60 s, which with the walk between spots is the install guide's pace.",
        ),
    ] = 60.0,  # simulator.movement.CALIBRATION_PER_ZONE_S, written out: the CLI does not import numpy to start
    walk_spot_sets: Annotated[
        int | None,
        typer.Option(
            "--walk-spot-sets",
            min=1,
            help="How many sets of 3-4 standing points the walk spreads over each zone; default: one per 10 s "
            "(with the walk between spots, a new spot every five seconds or so).",
        ),
    ] = None,
    shadowing_db: ShadowingOption = None,
    body_loss_db: BodyLossOption = None,
    device_offset_db: DeviceOffsetOption = None,
) -> None:
    """Synthesise a store day: scans, truth, customers, calibration walk and config/."""
    from simulator.generate import generate_day
    from simulator.radio import radio_with

    try:
        res = generate_day(
            out_dir,
            store,
            shoppers=shoppers,
            duration_s=duration,
            seed=seed,
            strangers=strangers,
            progress=not quiet,
            walk_device=walk_device.value,
            walk_seconds_per_zone=walk_seconds,
            walk_spot_sets=walk_spot_sets,
            radio=radio_with(shadowing_db, body_loss_db, device_offset_db),
        )
    except _expected_errors() as e:
        if _debug:
            raise
        raise _fail(_message(e)) from None
    for note in res.notes:
        sys.stderr.write(f"note: {note}\n")
    if not quiet:
        out.print(
            f"wrote {res.out_dir}: {res.adverts:,} advertisements from {res.n_devices} devices, "
            f"{res.truth_intervals} truth intervals, {res.n_customers} customers, "
            f"calibration walk of {res.calibration_adverts:,} advertisements",
            markup=False,
        )


@contextmanager
def _spinner(label: str) -> Iterator[Callable[[float], None] | None]:
    """A transient line on stderr showing how far into the recording's day the replay is (TTY only)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as bar:
        task = bar.add_task(label)
        start: list[float] = []

        def tick(t: float) -> None:
            if not start:
                start.append(t)
            bar.update(task, description=f"{label}: {(t - start[0]) / 3600:.2f} h of recording")

        yield tick


def _print_table(scores: dict[str, Any]) -> None:
    table = Table(title="proximity-sim evaluate")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in scores.items():
        if isinstance(value, dict):
            text = ", ".join(f"{k} {v:.2f}" for k, v in value.items())
        elif isinstance(value, float):
            text = f"{value:.3f}"
        else:
            text = "-" if value is None else str(value)
        table.add_row(key, escape(text))  # zone names are the store's: "Aisle 7 [/b]" is not markup
    out.print(table)


@app.command()
def evaluate(
    scans: Annotated[Path, typer.Option("--scans", help="Scan recording (.jsonl or .jsonl.gz).")],
    truth: Annotated[Path, typer.Option("--truth", help="Ground-truth intervals (JSON Lines).")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config directory; default: config/ beside the scans, else ./config."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run the gateway pipeline over a recording and score zones and triggers against the truth."""
    from simulator.evaluate import evaluate_day

    # the inputs first: a mistyped --scans read as "config: config directory not found" (config/ is found beside it)
    for path in (scans, truth):
        if not path.is_file():
            raise _fail(f"{path}: {not_a_file(path, 'file')}")
    if config is None:
        beside = scans.parent / "config"
        config = beside if beside.is_dir() else Path("config")
    problems: list[str] = []
    try:
        with _spinner("replaying") as tick:
            scores = evaluate_day(scans, truth, config, on_problem=problems.append, progress=tick)
    except _expected_errors() as e:
        if _debug:
            raise
        raise _fail(_message(e)) from None
    for p in problems:
        sys.stderr.write(f"warning: {p}\n")
    if as_json:
        sys.stdout.write(json.dumps(scores, sort_keys=True) + "\n")
    else:
        _print_table(scores)
    if not scores["samples"]:
        # no labelled sample (no advertisement, no truth, nobody recognised): zone accuracy 0 and trigger scores
        # of 1.0 over nothing; a failed check (SPEC 2: exit 1), as `calibrate evaluate` says of an empty recording
        raise _fail("no labelled sample: nothing was scored (the warnings above say why)")


WEAK_ZONE = 0.7  # a zone the oracle gets right less often than this is named as hard to tell apart
FEW_SAMPLES = 300  # reports: fewer, and a zone's figure rests on a visit or two


@app.command()
def ceiling(
    store: Annotated[Path | None, typer.Option("--store", help="Store TOML; default: the built-in example.")] = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", min=0, help="A day to score (repeat for more); default: 1.")
    ] = None,
    shoppers: Annotated[int, typer.Option("--shoppers", min=1, help="Customers visiting during each day.")] = 40,
    duration: Annotated[
        float, typer.Option("--duration", min=60, max=86400, help="Length of each day in seconds.")
    ] = 1800.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    shadowing_db: ShadowingOption = None,
    body_loss_db: BodyLossOption = None,
    device_offset_db: DeviceOffsetOption = None,
) -> None:
    """An estimate of the zone accuracy this layout allows (not a bound): an estimator that knows the simulator's
    radio map, per zone."""
    from simulator.ceiling import Ceiling, ceiling_of_day
    from simulator.radio import radio_note, radio_with
    from simulator.store import load_store

    days = seeds or [1]
    radio = radio_with(shadowing_db, body_loss_db, device_offset_db)
    result = Ceiling()
    try:
        st = load_store(store)
        with err.status("scoring", spinner="dots") if err.is_terminal else _no_status() as status:
            for n, seed in enumerate(days, start=1):
                doing = f"scoring day {n} of {len(days)} (seed {seed})"
                if status is not None:
                    status.update(doing)
                else:  # a pipe or a CI log: a line a day, where a minute of silence read as a hang
                    err.print(f"{doing} ...", markup=False)
                ceiling_of_day(st, seed, shoppers, duration, radio, result)
    except _expected_errors() as e:
        if _debug:
            raise
        raise _fail(_message(e)) from None
    if not result.smoothed:
        raise _fail(f"{store or 'the example store'}: no customer was heard in {len(days)} day(s); nothing to score")
    per_zone = result.per_zone()
    weak = sorted((t.accuracy, z) for z, t in per_zone.items() if t.accuracy < WEAK_ZONE)
    # a planner reads every zone's row: say which were not scored, or scored on too little to go by
    unscored = [z for z in st.zone_names if z not in per_zone]
    thin = [z for z, t in per_zone.items() if t.samples < FEW_SAMPLES]
    if as_json:
        summary = {
            "store_id": st.store_id,
            "seeds": days,
            "radio": {
                "shadowing_db": radio.shadow_sigma_db,
                "body_loss_db": radio.body_loss_db,
                "device_offset_db": radio.device_offset_sigma_db,
            },
            "accuracy": round(result.accuracy, 4),
            "forward_accuracy": round(result.forward_accuracy, 4),
            "setting": {"evidence_weight": result.setting[0], "move_spread_m": result.setting[1]},
            "samples": sum(t.samples for t in per_zone.values()),
            "per_zone": {z: {"samples": t.samples, "accuracy": round(t.accuracy, 4)} for z, t in per_zone.items()},
            "weak_zones": [z for _, z in weak],
            "unscored_zones": unscored,
            "few_samples_zones": thin,
        }
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
        return
    table = Table(
        title=f"zone accuracy this layout allows ({st.store_id}, {len(days)} day(s) of {shoppers} shoppers"
        f"{radio_note(radio).replace(' radio=', ', radio ')})"
    )
    table.add_column("zone")
    table.add_column("samples", justify="right")
    table.add_column("ceiling", justify="right")
    for z, t in sorted(per_zone.items()):
        table.add_row(escape(z), f"{t.samples:,}", f"{t.accuracy:.3f}")
    table.add_row("all", f"{sum(t.samples for t in per_zone.values()):,}", f"{result.accuracy:.3f}")
    out.print(table)
    out.print(
        f"An estimator that knows every receiver's position and path loss, the walls and each phone's offset gets "
        f"{result.accuracy:.3f} (deciding as it goes, as the gateway must: {result.forward_accuracy:.3f}).",
        markup=False,
    )
    if unscored or thin:
        parts = [f"no shopper was in {', '.join(unscored)}"] if unscored else []
        parts += [f"under {FEW_SAMPLES} samples in {', '.join(thin)}"] if thin else []
        out.print(f"Not enough to go by: {'; '.join(parts)}. Add days (--seed) or --shoppers.", markup=False)
    if weak:
        names = ", ".join(f"{z} ({a:.2f})" for a, z in weak)
        out.print(
            f"Hard to tell apart on this layout: {names}. A receiver inside such a zone, away from the others, "
            "usually helps (docs/zones.md, round 11: 'what the layout allows').",
            markup=False,
        )


@contextmanager
def _no_status() -> Iterator[None]:
    yield None


@app.command()
def demo(
    demo_dir: Annotated[
        Path | None, typer.Option("--dir", help="A generated day with config/; default: the shipped demo/.")
    ] = None,
    speed: Annotated[
        float | None, typer.Option("--speed", min=0.001, help="Times real time; default: as fast as possible.")
    ] = None,
) -> None:
    """Replay a store recording into a private Mosquitto and show the coupons the broker delivered."""
    import asyncio

    from simulator.demo import DEMO_DIR, print_report, run_demo
    from simulator.localbroker import BrokerError

    day = demo_dir or DEMO_DIR
    if not (day / "scans.jsonl.gz").is_file() or not (day / "config").is_dir():
        raise _fail(f"{day}: no scans.jsonl.gz and config/ here; make a day with: proximity-sim generate --out {day}")
    errors: tuple[type[BaseException], ...] = (*_expected_errors(), BrokerError)
    # In a pipe or a CI log rich assumes 80 columns and would cut the table's ids; give it room.
    console = out if out.is_terminal else cli_console(width=130)
    try:
        result, got = asyncio.run(run_demo(day, speed, console))
    except errors as e:
        if _debug:
            raise
        raise _fail(_message(e)) from None
    print_report(result, got, console)


def main() -> None:
    """Console script entry point; `--debug` anywhere on the command line shows tracebacks, as the README says and
    proximity-gateway does (after a command it was a usage error: `no such option: --debug`)."""
    global _debug  # noqa: PLW0603 - one process-wide switch set once by the CLI entry point
    if "--debug" in sys.argv[1:]:
        sys.argv.remove("--debug")
        _debug = True
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
