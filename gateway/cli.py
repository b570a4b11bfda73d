"""`proximity-gateway`: each command a thin layer over a library function.

Errors reach the user as one line per problem on stderr (exit 1), never a traceback unless --debug.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from gateway import __version__
from gateway.cli_calibrate import calibrate_app
from gateway.cli_campaigns import campaigns_app
from gateway.cli_console import cli_console
from gateway.cli_customers import customers_app
from gateway.cli_group import OneLineGroup
from gateway.cli_record import calibrate_record_command, record_command
from gateway.config import DEFAULT_CONFIG_DIR, ConfigError, service_credentials
from gateway.setup import GATEWAY_FILE, ZONES_FILE, LoadedConfig, campaign_warnings_with, load_config_dir

app = typer.Typer(
    cls=OneLineGroup,
    name="proximity-gateway",
    help=(
        "In-store BLE proximity gateway: recognises opted-in shoppers, estimates zones, publishes coupon triggers. "
        "Add --debug anywhere on the command line for tracebacks and debug logs."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check the configuration directory.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(calibrate_app, name="calibrate", help="Zone calibration: record a labelled walk, fit, evaluate.")
app.add_typer(customers_app, name="customers", help="The consent registry.")
app.add_typer(campaigns_app, name="campaigns", help="Campaign rules.")
app.command("record", help="Record live advertisements to a scan recording.")(record_command)
calibrate_app.command(
    "record", help="Record a labelled calibration walk in one zone, carrying a reference tag or a store-app phone."
)(calibrate_record_command)

err = cli_console(stderr=True, soft_wrap=True)  # one problem, one line, even in a pipe
out = cli_console(soft_wrap=True)
log = logging.getLogger("gateway.cli")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Configuration directory.")]


def fail(problems: list[str] | str, code: int = 1) -> typer.Exit:
    for line in [problems] if isinstance(problems, str) else problems:
        err.print(f"error: {line}", markup=False)
    return typer.Exit(code)


def load_or_exit(config: Path) -> LoadedConfig:
    try:
        loaded = load_config_dir(config)
    except ConfigError as e:
        failed = fail(e.problems)
        for w in e.warnings:  # a person fixing the errors sees the rest at once, not one run later
            err.print(f"warning: {w}", markup=False)
        raise failed from None
    for w in loaded.warnings:
        err.print(f"warning: {w}", markup=False)
    return loaded


@app.command()
def run(
    config: ConfigOpt = DEFAULT_CONFIG_DIR,
    scanner_backend: Annotated[
        str | None,
        typer.Option(hidden=True, help="module:Class of a bleak BaseBleakScanner backend (tests, integrators)."),
    ] = None,
) -> None:
    """The daemon: live BLE scanning (the systemd unit runs this)."""
    from gateway.daemon import Daemon
    from gateway.sources.bluez_errors import wait_for_bluetooth
    from gateway.sources.live import load_backend

    loaded = load_or_exit(config)
    try:
        backend = load_backend(scanner_backend) if scanner_backend else None
    except ValueError as e:
        raise fail(str(e), code=2) from None

    async def main() -> tuple[int, Daemon]:
        # at boot BlueZ or the adapter may come up after this unit: the daemon waits for them (a scripted backend
        # needs neither), delivering what is queued meanwhile
        daemon = Daemon(loaded, backend=backend, wait_for_bluetooth=None if backend else wait_for_bluetooth)
        return await daemon.run(), daemon

    code, daemon = asyncio.run(main())
    if (missing := daemon.cannot_scan) is not None:
        sent, left = daemon.runtime.publisher.published, daemon.still_queued
        if sent or left:
            err.print(f"{sent} queued messages delivered, {left} still queued, before stopping", markup=False)
        raise fail(f"cannot scan: {missing}")
    raise typer.Exit(code)


@app.command()
def replay(
    scans: Annotated[Path, typer.Argument(help="Scan recording (.jsonl or .jsonl.gz).")],
    config: ConfigOpt = DEFAULT_CONFIG_DIR,
    speed: Annotated[float | None, typer.Option(help="Pace at X times real time.", min=0.001)] = None,
    fast: Annotated[bool, typer.Option("--fast", help="As fast as possible (the default).")] = False,
    strict: Annotated[bool, typer.Option(help="A malformed line is fatal instead of skipped.")] = False,
    drain_timeout: Annotated[float, typer.Option(help="Seconds to wait for the outbox to drain.")] = 30.0,
) -> None:
    """The whole pipeline over a recording, with the recording's own clock; publishes to the configured broker."""
    from gateway.replay import replay as do_replay
    from gateway.sources.recording import RecordingError

    if fast and speed is not None:
        raise fail("--fast and --speed are exclusive", code=2)
    loaded = load_or_exit(config)
    try:
        result = asyncio.run(do_replay(loaded, scans, speed=speed, strict=strict, drain_timeout_s=drain_timeout))
    except RecordingError as e:
        raise fail(str(e)) from None
    for w in result.warnings:
        err.print(f"warning: {w}", markup=False)
    err.print(
        f"replayed {result.adverts} advertisements ({result.recognised} recognised) in {result.elapsed_s:.2f} s "
        f"({result.adverts_per_s:,.0f}/s); {result.events} events queued"
        f"{', every one acknowledged by the broker' if result.events and not result.still_queued else ''}; "
        f"{result.skipped_lines} lines skipped{'; recording truncated' if result.truncated else ''}"
        + _carried_over(result.carried_over, result.still_queued),
        markup=False,
    )
    outbox = loaded.gateway.state_dir / "outbox.db"
    if result.unwritten:
        # not "queued": the outbox could not take them, and the history did not record their triggers as sent
        raise fail(
            f"{result.unwritten} events could not be written to {outbox} (is the disk full?) and end with this "
            "run; their triggers are not recorded as sent: replay the recording again once there is space"
        )
    if result.still_queued:
        raise fail(
            f"{result.still_queued} messages still queued in {outbox} (broker {loaded.gateway.mqtt.url} "
            "did not acknowledge them in time); they will be sent by the next run"
        )


def _carried_over(carried: int, still_queued: int) -> str:
    """What became of the events an earlier run (a broker away, a crash) had left in the outbox."""
    if not carried:
        return ""
    if not still_queued:
        return f"; {carried} events an earlier run had left queued went out too (same trigger ids)"
    return f"; {carried} events an earlier run had left queued were waiting too"


@config_app.command("check")
def config_check(config: ConfigOpt = DEFAULT_CONFIG_DIR) -> None:
    """Validate every configuration file; names each problem with file and field."""
    loaded = load_or_exit(config)
    g = loaded.gateway
    if g.role != "node" and g.gateway_id not in loaded.zones.receivers:
        # the daemon names its radio's readings after gateway_id; a replay uses the recording's receivers instead
        err.print(
            f"warning: {config / ZONES_FILE}: receivers: this gateway's own radio {g.gateway_id!r} (gateway.toml "
            f"gateway_id) is not among them ({', '.join(loaded.zones.receivers)}): `run` ignores what it hears until "
            "the zones are fitted on a walk it recorded (a replay uses the recording's receivers)",
            markup=False,
        )
    from gateway.campaigns.engine import lookback_s
    from gateway.campaigns.model import describe_caps

    kept_s = lookback_s(loaded.campaigns, loaded.caps)
    if kept_s > g.history.retention_days * 86_400:
        # a data-protection officer reads the retention as what the gateway keeps: say where triggers outlive it
        err.print(
            f"warning: {config / GATEWAY_FILE}: history.retention_days: {g.history.retention_days:g} days, but "
            f"coupons' triggers are kept {kept_s / 86_400:g} days, as long as the campaigns' cooldowns and caps "
            "read them (stays and phone offsets go after the retention)",
            markup=False,
        )
    for key in service_credentials(g):
        err.print(
            f"warning: {config / GATEWAY_FILE}: mqtt.{key}: {getattr(g.mqtt, key)} is a systemd credential, there "
            "only while the service runs (LoadCredential=): not checked here",
            markup=False,
        )
    daily = loaded.caps.max_per_day is not None or any(c.budget_per_day is not None for c in loaded.campaigns)
    if "timezone" not in g.model_fields_set and (daily or any(c.schedule is not None for c in loaded.campaigns)):
        # SPEC's gateway.toml has no time zone: a Berlin store's "07:00-10:30" would run 08:00-11:30 in winter
        err.print(
            f"warning: {config / GATEWAY_FILE}: timezone: not set, so campaign schedules, daily caps and budgets run "
            'on UTC hours and days; set the store\'s, e.g. timezone = "Europe/Berlin"',
            markup=False,
        )
    # what `campaigns validate` says too: a segment no customer has, an end_date gone by, a window DST cuts
    from gateway.campaigns.schedule import store_zone
    from gateway.cli_campaigns import known_segments

    today = datetime.now(store_zone(g.timezone)).date()
    for w in campaign_warnings_with(loaded, segments=known_segments(config), today=today):
        err.print(f"warning: {w}", markup=False)
    from gateway.cli_campaigns import registry_customers
    from gateway.identity.irk import chance_match_note
    from gateway.identity.models import count_irks, other_purposes_note

    # `customers import` fills the registry, which is what the daemon recognises from
    registered = registry_customers(config)
    if registered is not None and (note := chance_match_note(count_irks(registered[1]))) is not None:
        err.print(f"warning: {registered[0]}: {note}", markup=False)
    if registered is not None and (note := other_purposes_note(registered[1], g.recognition.purposes)) is not None:
        err.print(f"warning: {registered[0]}: {note}", markup=False)
    if g.customers_file is not None:
        # the daemon imports it at start and keeps the good rows; a bad one is a customer it will never recognise
        from gateway.identity.importer import read_customers_file

        listed = read_customers_file(g.customers_file)
        # with a registry, the daemon recognises the registry's customers: its IRKs are counted below instead
        file_irk_note = chance_match_note(listed.irks) if registered is not None else None
        for problem in [*listed.problems, *listed.notes]:
            if file_irk_note is None or problem != f"{g.customers_file}: {file_irk_note}":
                err.print(f"warning: {problem}", markup=False)
        if listed.rejected:
            err.print(
                f"warning: {config / GATEWAY_FILE}: customers_file: {listed.rejected} of {listed.rows} rows of "
                f"{g.customers_file} would not be imported (above)",
                markup=False,
            )
    out.print(
        f"{config}: ok (store {g.store_id}, gateway {g.gateway_id}, {len(loaded.zones.zones)} zones, "
        f"{len(loaded.campaigns)} campaigns, broker {g.mqtt.url}; {describe_caps(loaded.caps)})",
        markup=False,
    )


def _holder_alive(lock: Path) -> bool | None:
    """Whether the process whose pid the gateway wrote into its lock file still exists; None if no pid is there."""
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user (the service's)
        return True
    return True


@app.command()
def status(
    config: ConfigOpt = DEFAULT_CONFIG_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Health of the running gateway: scanner, advertisements per second, devices, outbox, broker. Exit 1 when it
    finds a problem (listed under "problems"), so that a monitoring check can run it as it is."""
    from gateway.config import load_gateway_config
    from gateway.delivery.outbox import queued_in
    from gateway.health import health_problems
    from gateway.privacy import OUTBOX_FILE
    from gateway.runtime import HEALTH_FILE, LOCK_FILE, health_updated_at

    def no_health(problem: str | list[str]) -> typer.Exit:
        if as_json:  # a monitoring script reads stdout: one object there too, saying why there is nothing more
            problems = [problem] if isinstance(problem, str) else problem
            out.print(json.dumps({"running": False, "problem": problems[0], "problems": problems}), markup=False)
        return fail(problem)

    try:
        cfg = load_gateway_config(config, writing=False)
    except ConfigError as e:
        raise no_health(e.problems) from None
    path = cfg.state_dir / HEALTH_FILE

    try:
        health: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise no_health(f"{path}: no health file: the gateway has not run with this config") from None
    except (OSError, ValueError) as e:
        raise no_health(f"{path}: unreadable health file ({e})") from None
    updated = health_updated_at(health)
    if updated is None:
        raise no_health(f"{path}: not a health file written by the gateway (no numeric 'updated_at')")
    age = time.time() - updated
    health["age_s"] = round(age, 1)
    # the health file is written every few seconds; a daemon killed a moment ago leaves a fresh one behind,
    # so the pid in the state directory's lock has the last word
    alive = _holder_alive(cfg.state_dir / LOCK_FILE)
    health["running"] = age < 10 and alive is not False  # no pid to check: the health file's age decides
    health["holder_alive"] = alive is True
    if not health["running"]:
        # the health file's depth is from the daemon's last moment; what waits now is in the outbox itself
        queued = queued_in(cfg.state_dir / OUTBOX_FILE)
        if queued is not None:
            health["outbox_depth"] = queued
    health["problems"] = problems = health_problems(health, age)
    if as_json:
        out.print(json.dumps(health), markup=False)
        raise typer.Exit(1 if problems else 0)
    table = Table(
        title=escape(f"proximity-gateway {health.get('store_id')}/{health.get('gateway_id')}"), show_header=False
    )
    table.add_column("what")
    table.add_column("value")

    def add_row(what: str, value: str) -> None:
        table.add_row(what, escape(value))  # names and errors are text: "rx-[b]" or "[Errno 2]" are not markup

    running = "running" if health["running"] else f"not running (last update {age:.0f} s ago)"
    if (written_by := health.get("written_by", "run")) != "run":  # a replay into this state directory
        running = (
            f"not running; a {written_by} is using this state directory"
            if health["running"]
            else f"not running; the rows below are from a {written_by}, {age:.0f} s ago"
        )
    # a stopped daemon's health file still says "scanning" and "connected": what it was, not what it is
    was = "" if health["running"] else "last known: "
    add_row("daemon", running)
    add_row("scanner", was + str(health.get("scanner")))
    rates = health.get("adverts_per_s") or {}
    add_row("adverts/s", was + (", ".join(f"{rx} {r}" for rx, r in rates.items()) or "-"))
    add_row("recognised devices", was + str(health.get("tracked_devices")))
    level = health.get("device_level")
    median = level.get("median_db") if isinstance(level, dict) else None
    if isinstance(level, dict) and isinstance(median, int | float) and not isinstance(median, bool):
        warning = level.get("warning")
        add_row(
            "devices vs walk",
            was + f"{median:+.1f} dB (median of {level.get('devices')} visits)" + (f"; {warning}" if warning else ""),
        )
    depth, oldest = health.get("outbox_depth"), health.get("oldest_queued_age_s")
    waiting = f" (oldest {oldest:.0f} s)" if depth and health["running"] and isinstance(oldest, int | float) else ""
    add_row("outbox depth", f"{depth}{waiting}")
    if set_aside := health.get("dead_letters"):
        add_row("messages set aside", f"{set_aside}: the broker can never take them (the log says why)")
    if errors := health.get("housekeeping_errors"):
        add_row("housekeeping errors", f"{errors} (the log names each cause)")
    last = health.get("last_publish_at")
    add_row("last publish", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last)) if last else "never")
    add_row("broker", was + ("connected" if health.get("broker_connected") else "disconnected"))
    offline = health.get("nodes_offline")
    if isinstance(offline, list) and offline:
        add_row("receiver nodes offline", was + ", ".join(str(n) for n in offline))
    absent = health.get("receivers_absent")
    if isinstance(absent, list) and absent:
        add_row("receivers left out of the zones", was + ", ".join(str(rx) for rx in absent))
    if health.get("last_error"):
        add_row("last error", str(health["last_error"]))
    add_row("problems", "; ".join(problems) or "none")
    out.print(table)
    raise typer.Exit(1 if problems else 0)


def _print_version(value: bool) -> None:
    if value:
        out.print(__version__)
        raise typer.Exit(0)


@app.callback(invoke_without_command=False)
def _root(
    # eager: it answers before a command is required (otherwise "Missing command.", exit 2)
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    pass


def main() -> None:
    """Console script entry point; `--debug` anywhere shows tracebacks and debug logs."""
    from gateway.logs import setup_logging

    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    # The daemon logs its life to the journal; interactive commands only say what went wrong.
    daemon = len(sys.argv) > 1 and sys.argv[1] == "run"
    setup_logging(logging.INFO if daemon else logging.WARNING, debug=debug)
    try:
        app()
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(130)
    except Exception as e:
        if debug:
            raise
        if isinstance(e, _worded_errors()):  # each says what and where in one line: no class name, no --debug hint
            err.print(f"error: {e}", markup=False)
        else:
            err.print(f"error: {e.__class__.__name__}: {e} (run with --debug for details)", markup=False)
        sys.exit(1)


def _worded_errors() -> tuple[type[Exception], ...]:
    """The state directory's errors, written for the store's IT team (file, cause, remedy) rather than a developer."""
    from gateway.campaigns.history import HistoryError
    from gateway.delivery.outbox import OutboxError
    from gateway.identity.registry import RegistryError
    from gateway.runtime import StateDirError

    return (StateDirError, HistoryError, OutboxError, RegistryError)


if __name__ == "__main__":
    main()
