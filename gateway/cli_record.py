"""`proximity-gateway record` and `proximity-gateway calibrate record`: live advertisements to files.

Thin shells over gateway.sources.recorder; they load the configuration, check Bluetooth, scan, and
report in one line per problem. Tests (and integrators) swap the radio through `SCANNER_BACKEND`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from bleak.backends.scanner import BaseBleakScanner
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gateway.adverts import ADDRESS_RE, Advert
from gateway.cli_console import cli_console
from gateway.config import DEFAULT_CONFIG_DIR, ConfigError, GatewayConfig, load_gateway_config
from gateway.delivery.listener import listen_sightings
from gateway.delivery.topics import Topics
from gateway.sources.anonymise import Anonymiser
from gateway.sources.live import LiveSource, check_bluetooth_available, load_backend
from gateway.sources.recorder import FilteringSink, scan_for, source_description
from gateway.sources.recording import Header, RecordingError, RecordingWriter
from gateway.sources.sightings import MAX_BATCH_AGE_S, DecodedBatch
from gateway.truth import TruthInterval, write_truth
from gateway.zones.estimate import OUTSIDE

# Tests and integrators replace the radio here: a bleak BaseBleakScanner subclass and its keyword arguments.
SCANNER_BACKEND: type[BaseBleakScanner] | None = None
SCANNER_BACKEND_KWARGS: dict[str, Any] = {}

REGISTRY_FILE = "registry.db"
CALIBRATION_SCANS = "calibration.jsonl"
CALIBRATION_TRUTH = "calibration-truth.jsonl"
LIVE_REFRESH_PER_S = 4
# How often the walk's readout asks the walker to move on. What made simulated walks good was how many spots
# they covered, not how long they lasted (docs/zones.md, round 9: four times the spots in the same time scored
# as well as a four times longer walk); a few seconds per spot is what those walks stood.
SPOT_S = 5.0


def spot_cue(elapsed_s: float, zone: str = "") -> str:
    """The line under the progress bar: which spot this is and when to move on. Outside, every other spot is by
    the door: people waiting there read most like the door zone, and a walk that only stood out on the pavement
    left that spot to the door zone (docs/zones.md, round 13)."""
    spot = int(elapsed_s // SPOT_S) + 1
    left = math.ceil(SPOT_S - elapsed_s % SPOT_S)
    if zone == OUTSIDE:
        where = (
            "right outside the door, within two metres of the doorway, where people wait"
            if spot % 2
            else "out on the pavement, three to six metres from the door"
        )
        return f"spot {spot}: stand {where}; move on in {left} s"
    return f"spot {spot}: move two or three metres to a new spot in {left} s; cover the whole zone, edges included"


NODE_LATENCY_S = 0.5  # broker round trip and a node's housekeeping tick, on a store's LAN

# soft_wrap: an error is one line however narrow the terminal (or a pipe, which rich takes as 80 columns)
err = cli_console(stderr=True, soft_wrap=True)
# The walk's readout wraps instead: with soft_wrap, rich's Live crops each line at the terminal's width, and at
# 80 columns (ssh, a Pi's console) the spot cue lost its countdown ("... where people wait; move on in 4 s").
live_err = cli_console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Configuration directory.")]
BackendOpt = Annotated[
    str | None, typer.Option(hidden=True, help="module:Class of a bleak BaseBleakScanner backend (tests).")
]


def _fail(problem: str, code: int = 1) -> typer.Exit:
    err.print(f"error: {problem}", markup=False)
    return typer.Exit(code)


def _load(config: Path) -> GatewayConfig:
    try:
        return load_gateway_config(config)
    except ConfigError as e:
        for line in e.problems:
            err.print(f"error: {line}", markup=False)
        raise typer.Exit(1) from None


def _radio(cfg: GatewayConfig, scanner_backend: str | None) -> tuple[type[BaseBleakScanner] | None, dict[str, Any]]:
    """The backend to scan with; checks that Bluetooth is there when it is the real one."""
    if scanner_backend:
        try:
            return load_backend(scanner_backend), {}
        except ValueError as e:
            raise _fail(str(e), 2) from None
    if SCANNER_BACKEND is not None:
        return SCANNER_BACKEND, dict(SCANNER_BACKEND_KWARGS)
    if missing := check_bluetooth_available(cfg.scanner.adapter):
        raise _fail(f"cannot scan: {missing}")
    return None, {}


@contextlib.contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C or SIGTERM end the recording cleanly: the file is closed whole, the command exits 0."""
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # where the loop cannot install a handler (not the main thread, a platform without loop signal support),
        # Ctrl-C keeps Python's default behaviour, KeyboardInterrupt, rather than the command failing to start
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _registry_present(path: Path) -> bool:
    """Whether the consent registry is there; exits with one line when this user may not look (the service's
    state directory, under /var/lib/private, is root's: the traceback's PermissionError said nothing of sudo)."""
    try:
        return path.is_file()
    except PermissionError:
        problem = f"{path}: permission denied: the consent registry is the service's; run this command with sudo"
        raise _fail(problem) from None


def _only_known_filter(cfg: GatewayConfig) -> Callable[[Advert], bool]:
    # imported here: the registry pulls in SQLite only for this option
    from gateway.identity.registry import Registry, RegistryError
    from gateway.identity.resolver import Resolver

    path = cfg.state_dir / REGISTRY_FILE
    if not _registry_present(path):
        raise _fail(f"{path}: no consent registry (import customers first: proximity-gateway customers import FILE)")
    try:
        with Registry(path) as registry:
            customers = registry.consenting()
    except RegistryError as e:
        raise _fail(str(e)) from None
    if not customers:
        err.print("warning: no consenting customers in the registry: nothing will be recorded", markup=False)
    resolver = Resolver(customers, cfg.recognition.token_company_id, purposes=cfg.recognition.purposes)
    return lambda adv: resolver.match(adv) is not None


def _customer_filter(cfg: GatewayConfig, customer_id: str) -> Callable[[Advert], bool]:
    """Keeps the advertisements of one consenting customer's devices (a store-app phone on a calibration walk)."""
    from gateway.identity.registry import Registry, RegistryError
    from gateway.identity.resolver import Resolver

    path = cfg.state_dir / REGISTRY_FILE
    if not _registry_present(path):
        raise _fail(f"{path}: no consent registry (import the phone's customer record first)")
    try:
        with Registry(path) as registry:
            person = registry.get(customer_id)
    except RegistryError as e:
        raise _fail(str(e)) from None
    if person is None or not person.consent:
        raise _fail(f"--customer {customer_id!r}: no consenting customer of that id in {path}")
    resolver = Resolver([person], cfg.recognition.token_company_id)
    return lambda adv: resolver.match(adv) == customer_id


def record_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Scan recording to write (.jsonl or .jsonl.gz).")],
    duration: Annotated[
        float | None, typer.Option(help="Seconds to record; without it, until Ctrl-C.", min=0.001)
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG_DIR,
    only_known: Annotated[
        bool,
        typer.Option(
            "--only-known/--all",
            help="Keep only advertisements of consenting customers (the default, SPEC section 6); "
            "--all records every device in range, for radio surveys.",
        ),
    ] = True,
    anonymise: Annotated[
        bool, typer.Option("--anonymise", help="Replace addresses by pseudonyms that are stable within this file.")
    ] = False,
    scanner_backend: BackendOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing recording at --out.")] = False,
) -> None:
    """Records live advertisements to a scan recording (SPEC section 4)."""
    if out.is_file() and out.stat().st_size > 0 and not overwrite:
        # a survey or a day's recording is not replaced by a typo in the next command
        raise _fail(f"{out}: a recording is already there; choose another name, or give --overwrite", 2)
    cfg = _load(config)
    keep = _only_known_filter(cfg) if only_known else None
    backend, backend_kwargs = _radio(cfg, scanner_backend)
    if not only_known:
        err.print(
            "warning: --all records every device in range, including people who did not consent; "
            "keep the file inside the store, use --anonymise, and delete it after the survey",
            markup=False,
        )
    header = Header(store_id=cfg.store_id, source=source_description(cfg.scanner))

    async def main() -> LiveSource:
        stop = asyncio.Event()
        with RecordingWriter(out, header) as writer, _stop_on_signals(asyncio.get_running_loop(), stop):
            sink.write = writer.write
            return await scan_for(
                sink,
                settings=cfg.scanner,
                rx=cfg.gateway_id,
                duration_s=duration,
                stop=stop,
                backend=backend,
                backend_kwargs=backend_kwargs,
            )

    sink = FilteringSink(lambda adv: None, keep, Anonymiser() if anonymise else None)
    try:
        source = asyncio.run(main())
    except OSError as e:
        raise _fail(f"{out}: cannot write: {e.strerror or e}") from None
    stats = sink.stats
    err.print(
        f"recorded {stats.written} advertisements to {out} ({stats.heard} heard, {stats.dropped} dropped)",
        markup=False,
    )
    if not source.started_once:
        raise _fail(f"scanning never started: {source.last_error or 'unknown reason'}")


@dataclass
class _RxReadout:
    count: int = 0
    last: int | None = None
    total: int = 0
    recent: list[int] = field(default_factory=list)


class _CalibrationView:
    """Progress through the walk and the tag's RSSI per receiver, so the person walking sees it is heard."""

    def __init__(self, zone: str, duration_s: float) -> None:
        self.zone = zone
        self.progress = Progress(
            TextColumn("zone [bold]{task.fields[zone]}[/]"), BarColumn(), TimeRemainingColumn(), console=live_err
        )
        self.task = self.progress.add_task("walk", total=duration_s, zone=zone)
        self.rx: dict[str, _RxReadout] = {}
        self.started_mono: float | None = None

    def heard(self, adv: Advert) -> None:
        r = self.rx.setdefault(adv.rx, _RxReadout())
        r.count += 1
        r.last = adv.rssi
        r.total += adv.rssi

    def started(self) -> None:
        if self.started_mono is None:
            self.started_mono = time.monotonic()

    def __rich__(self) -> Group:
        cue = "waiting for the radio to start"
        if self.started_mono is not None:
            elapsed = time.monotonic() - self.started_mono
            self.progress.update(self.task, completed=elapsed)
            cue = spot_cue(elapsed, self.zone)
        table = Table("receiver", "adverts", "last RSSI", "mean RSSI", box=None)
        for name, r in sorted(self.rx.items()):
            mean = f"{r.total / r.count:.1f}" if r.count else "-"
            table.add_row(escape(name), str(r.count), f"{r.last} dBm" if r.last is not None else "-", mean)
        if not self.rx:
            table.add_row("(tag not heard yet)", "", "", "")
        return Group(self.progress, cue, table)


def calibrate_record_command(
    zone: Annotated[str, typer.Option(help="The zone you are walking in (as named in zones.toml).")],
    duration: Annotated[float, typer.Option(help="Seconds to record in this zone.", min=0.001)],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory of the calibration files.")] = Path("calibration"),
    tag: Annotated[str, typer.Option(help="Address of the reference tag you carry, AA:BB:CC:DD:EE:FF.")] = "",
    customer: Annotated[
        str,
        typer.Option(
            help="Instead of --tag: the customer id of a phone running the store app that you carry (in the "
            "consent registry, with consent); its rotating address is recognised as the gateway would."
        ),
    ] = "",
    config: ConfigOpt = DEFAULT_CONFIG_DIR,
    scanner_backend: BackendOpt = None,
) -> None:
    """Records the tag's advertisements in one zone and appends the labelled interval to the truth file."""
    if bool(tag) == bool(customer):
        raise _fail("give --tag (the address of the reference tag you carry) or --customer (a store-app phone)", 2)
    if tag and not ADDRESS_RE.match(tag):
        raise _fail(f"--tag {tag!r}: expected a Bluetooth address like AA:BB:CC:DD:EE:FF", 2)
    if not zone.strip():
        raise _fail("--zone: empty zone name", 2)
    if zone != zone.strip():  # `calibrate fit` refuses it later, after the walk: say so before the walk
        raise _fail(f"--zone {zone!r}: starts or ends with a space; no campaign's zone would match it", 2)
    tag = tag.upper()
    cfg = _load(config)
    is_walker = (lambda adv: adv.addr.upper() == tag) if tag else _customer_filter(cfg, customer)
    walker = tag or customer  # the truth's device: the tag's address, or the customer id
    backend, backend_kwargs = _radio(cfg, scanner_backend)
    view = _CalibrationView(zone, duration)
    scans_path = out_dir / CALIBRATION_SCANS
    truth_path = out_dir / CALIBRATION_TRUTH
    header = Header(store_id=cfg.store_id, source=source_description(cfg.scanner))
    times: dict[str, float] = {}
    heard_by: dict[str, int] = {}  # receiver -> advertisements of the tag written

    def on_started() -> None:
        times["start"] = time.time()  # the truth interval opens when the radio is actually listening
        view.started()

    async def main() -> LiveSource:
        stop = asyncio.Event()
        with (
            RecordingWriter(scans_path, header, append=True) as writer,
            _stop_on_signals(asyncio.get_running_loop(), stop),
            Live(view, console=live_err, refresh_per_second=LIVE_REFRESH_PER_S, transient=False),
        ):

            def write(adv: Advert) -> None:
                writer.write(adv)
                view.heard(adv)
                heard_by[adv.rx] = heard_by.get(adv.rx, 0) + 1
                times["first"] = min(times.get("first", adv.t), adv.t)
                times["last"] = max(times.get("last", adv.t), adv.t)

            def from_nodes(batch: DecodedBatch) -> None:
                start = times.get("start")
                if start is None:
                    return  # before the local radio listens there is no interval to label
                end = times.get("end", math.inf)
                for adv in batch.adverts:
                    if start <= adv.t <= end and is_walker(adv):
                        write(adv)

            sink.write = write
            nodes_stop = asyncio.Event()
            # the primary hears the tag through its receiver nodes too (they forward [calibration] tags)
            nodes = (
                asyncio.create_task(
                    listen_sightings(
                        cfg.mqtt,
                        Topics(cfg.mqtt.topic_prefix, cfg.store_id, cfg.gateway_id),
                        f"{cfg.mqtt.client_id or f'{cfg.store_id}-{cfg.gateway_id}'}-calibrate",
                        from_nodes,
                        nodes_stop,
                        lambda problem: err.print(f"warning: {problem}", markup=False),
                    )
                )
                if cfg.role == "primary"
                else None
            )
            source = await scan_for(
                sink,
                settings=cfg.scanner,
                rx=cfg.gateway_id,
                duration_s=duration,
                stop=stop,
                backend=backend,
                backend_kwargs=backend_kwargs,
                on_started=on_started,
            )
            times["end"] = time.time()
            if nodes is not None:
                # a node sends what it heard at most MAX_BATCH_AGE_S later: wait for the walk's last batches
                await asyncio.sleep(MAX_BATCH_AGE_S + NODE_LATENCY_S)
                nodes_stop.set()
                await nodes
            return source

    sink = FilteringSink(lambda adv: None, keep=is_walker)
    try:
        source = asyncio.run(main())
    except RecordingError as e:
        raise _fail(str(e)) from None
    except OSError as e:
        raise _fail(f"{out_dir}: cannot write: {e.strerror or e}") from None
    finally:
        if not live_err.is_terminal:  # Live's last frame ends without a line break off a terminal (a log file)
            live_err.line()
    if "start" not in times:
        raise _fail(f"scanning never started: {source.last_error or 'unknown reason'}; no interval recorded")
    if source.clock_steps:
        # the interval would span two clocks: a day long after a step forward, or labelling the wrong readings
        raise _fail(
            "the wall clock stepped during the walk (NTP setting it?): its times do not make one interval; no interval "
            "recorded; walk this zone again once `timedatectl` says the clock is synchronized"
        )
    if not heard_by:
        what, check = (
            (f"the tag {tag}", "its address and battery")
            if tag
            else (f"the phone of customer {customer}", "that the store app is open and advertising")
        )
        raise _fail(f"{what} was not heard in {duration:g} s: check {check}; no interval recorded")
    # the interval covers every advertisement it labels: the radio's first one can carry a time a fraction of a
    # millisecond before the moment it reported that it was listening
    interval = TruthInterval(walker, zone, min(times["start"], times["first"]), max(times["end"], times["last"]))
    walked = times["end"] - times["start"]
    if walked < duration - 1.0:
        err.print(
            f"note: the walk was stopped after {walked:.0f} s of {duration:g} s; the interval covers what was walked",
            markup=False,
        )
    try:
        write_truth(truth_path, [interval], append=True)
    except OSError as e:
        raise _fail(f"{truth_path}: cannot write: {e.strerror or e}") from None
    by_rx = ", ".join(f"{rx} {n}" for rx, n in sorted(heard_by.items()))
    err.print(
        f"zone {zone}: {sum(heard_by.values())} advertisements of {walker} ({by_rx}) appended to {scans_path}, "
        f"interval {interval.t_end - interval.t_start:.1f} s appended to {truth_path}",
        markup=False,
    )
    if cfg.role == "primary" and tag and tag not in cfg.calibration.tags:
        err.print(
            f"warning: {tag} is not in gateway.toml's [calibration] tags: receiver nodes forward only the tags "
            "listed there (in their own gateway.toml)",
            markup=False,
        )
