"""`proximity-gateway campaigns ...`: check campaign rules and see which are active (a thin layer over model.py).

Exit codes: 0 ok (warnings go to stderr), 1 problems found, 2 usage.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer

from gateway.campaigns.model import Campaign, CampaignsError, LoadedCampaigns, describe_caps, load_campaigns
from gateway.campaigns.schedule import is_active, store_zone
from gateway.cli_console import cli_console
from gateway.cli_tables import print_rows
from gateway.config import DEFAULT_CONFIG_DIR, ConfigError, gateway_document, read_toml

if TYPE_CHECKING:
    from gateway.identity.models import Customer

CAMPAIGNS_FILE = "campaigns.toml"
ZONES_FILE = "zones.toml"
GATEWAY_FILE = "gateway.toml"
REGISTRY_FILE = "registry.db"

campaigns_app = typer.Typer(help="Campaign rules: validate the file, list what is active.", no_args_is_help=True)

_out = cli_console()
_err = cli_console(stderr=True)

ConfigOption = typer.Option(DEFAULT_CONFIG_DIR, "--config", "-c", help="Config directory (zones.toml, gateway.toml).")


def _raw_toml(path: Path) -> dict[str, Any] | None:
    try:
        return read_toml(path)
    except ConfigError:
        return None


def zone_names(config: Path) -> set[str] | None:
    """Zone names from zones.toml's top-level `zones` list; None (not checked) when there is no usable file."""
    doc = _raw_toml(config / ZONES_FILE)
    if doc is None or not isinstance(doc.get("zones"), list):
        return None
    return {z for z in doc["zones"] if isinstance(z, str)}


def _gateway_doc(config: Path) -> dict[str, Any]:
    return gateway_document(config)  # with PROXIMITY_STATE_DIR and the like, as the daemon reads it


def store_timezone(config: Path) -> str:
    tz = _gateway_doc(config).get("timezone", "UTC")
    return tz if isinstance(tz, str) else "UTC"


def _registry_file(config: Path, doc: dict[str, Any]) -> Path:
    state_dir = Path(str(doc.get("state_dir", "state")))
    return (state_dir if state_dir.is_absolute() else config / state_dir) / REGISTRY_FILE


def known_segments(config: Path) -> set[str] | None:
    """Segments some consenting customer has: from the registry if it exists, else gateway.toml's customers_file."""
    registered = registry_customers(config)
    if registered is not None:
        return {s for c in registered[1] for s in c.segments}
    doc = _gateway_doc(config)
    path = _customers_file(config, doc)
    if path is not None and path.is_file():
        from gateway.identity.importer import read_customers_file

        report = read_customers_file(path)
        return {s for c in report.customers if c.consent for s in c.segments}
    return None


def registry_customers(config: Path) -> tuple[Path, list[Customer]] | None:
    """The registry's file and its consenting customers, or None when there is none to read (not made yet, the
    service's own state directory read without sudo, or unreadable)."""
    registry = _registry_file(config, _gateway_doc(config))
    try:
        present = registry.is_file()
    except PermissionError:  # the service's state directory, run without sudo: "segments not checked" says so
        present = False
    if not present:
        return None
    from gateway.identity.registry import Registry, RegistryError

    try:
        with Registry(registry) as reg:
            return registry, reg.consenting()
    except RegistryError:
        return None


def _customers_file(config: Path, doc: dict[str, Any]) -> Path | None:
    customers = doc.get("customers_file")
    if not isinstance(customers, str):
        return None
    return Path(customers) if Path(customers).is_absolute() else config / customers


def _segments_unchecked(config: Path) -> str:
    """Why segments were not checked, naming what was looked for."""
    doc = _gateway_doc(config)
    registry = _registry_file(config, doc)
    customers = _customers_file(config, doc)
    if customers is None:
        return f"no consent registry readable at {registry}, and no customers_file"
    return f"no consent registry readable at {registry}, and customers_file {customers} not found"


def _store_zone_or_exit(config: Path) -> ZoneInfo:
    try:
        return store_zone(store_timezone(config))
    except ValueError as e:  # schedules are read in this zone: without it nothing can be checked
        _err.print(f"error: {config / GATEWAY_FILE}: timezone: {e}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _zones_unchecked(config: Path) -> str | None:
    """Why zone names cannot be checked (no usable zones.toml), or None when they can."""
    if zone_names(config) is not None:
        return None
    zones_file = config / ZONES_FILE
    why = "unreadable, or without a 'zones' list" if zones_file.exists() else "not found"
    return f"{zones_file}: {why}"


def _load(file: Path, config: Path, segments: set[str] | None) -> LoadedCampaigns:
    tz = _store_zone_or_exit(config)
    today = datetime.now(tz).date()
    try:
        loaded = load_campaigns(file, zones=zone_names(config), segments=segments, today=today, tz=tz)
    except CampaignsError as e:
        for p in e.problems:
            _err.print(f"error: {p}", markup=False, soft_wrap=True)
        for w in e.warnings:  # the rest of the file's warnings, at once rather than once the errors are fixed
            _err.print(f"warning: {w}", markup=False, soft_wrap=True)
        if (unchecked := _zones_unchecked(config)) is not None:
            # the zones a file names are fine only if they were checked: say so on this path too, not only on "ok"
            _err.print(f"note: {file}: zone names not checked ({unchecked})", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for w in loaded.warnings:
        _err.print(f"warning: {w}", markup=False, soft_wrap=True)
    return loaded


@campaigns_app.command("validate")
def validate(
    file: Path | None = typer.Argument(None, help="Campaigns file (default: DIR/campaigns.toml of --config)."),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Config directory (zones.toml, gateway.toml); default: FILE's own directory when it holds zones.toml, "
        "else ./config.",
    ),
) -> None:
    """Check the rules: unknown zones, bad values, duplicate ids, schedules that never match, unreachable rules."""
    if config is None:
        # another store's file is checked against its own zones, not those of whatever ./config holds
        config = file.parent if file is not None and (file.parent / ZONES_FILE).is_file() else DEFAULT_CONFIG_DIR
    path = file if file is not None else config / CAMPAIGNS_FILE
    segments = known_segments(config)
    loaded = _load(path, config, segments)
    unchecked_zones = _zones_unchecked(config)
    checked = "zone names checked" if unchecked_zones is None else f"zone names not checked ({unchecked_zones})"
    # silence about segments read as "they are fine": say when there was nothing to check them against
    unchecked = None if segments is not None else _segments_unchecked(config)
    checked += "; segments checked" if unchecked is None else f"; segments not checked ({unchecked})"
    _out.print(
        f"{path}: {len(loaded.campaigns)} campaigns ok; {describe_caps(loaded.caps)}; {checked}",
        markup=False,
        soft_wrap=True,
    )


def _describe_schedule(c: Campaign) -> str:
    s = c.schedule
    if s is None:
        return "always"
    parts = []
    if s.days is not None:
        parts.append(", ".join(s.days))
    if s.hours is not None:
        parts.append(" ".join(s.hours))
    if s.start_date or s.end_date:
        parts.append(f"{s.start_date or '…'}..{s.end_date or '…'}")
    return "\n".join(parts) or "always"  # a line each, so a narrow column wraps between them


def _rule(c: Campaign) -> str:
    head = f"{c.on} {c.zone}" if not c.sequence else f"{c.on} {' > '.join(c.sequence)}"
    return f"{head} {c.min_dwell_s:g}s" if c.on != "enter" else head


def _audience(c: Campaign) -> str:
    parts = []
    if c.segments is not None:
        parts.append("any " + ", ".join(c.segments))
    if c.segments_all:
        parts.append("all " + ", ".join(c.segments_all))
    if c.segments_none:
        parts.append("not " + ", ".join(c.segments_none))
    return "\n".join(parts) or "everyone"


def _parse_at(text: str, tz_name: str) -> float:
    """ISO date-time; without an offset it is store-local time."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{text}' is not an ISO date-time (e.g. 2026-03-29T09:30)", param_hint="--at"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=store_zone(tz_name))
    return dt.timestamp()


@campaigns_app.command("list")
def list_campaigns(
    config: Path = ConfigOption,
    at: str | None = typer.Option(None, "--at", help="ISO date-time (store-local unless it has an offset)."),
) -> None:
    """The campaigns and whether each is active now (or at --at), in the store's time zone."""
    tz_name = store_timezone(config)
    tz = _store_zone_or_exit(config)
    t = _parse_at(at, tz_name) if at is not None else time.time()
    loaded = _load(config / CAMPAIGNS_FILE, config, segments=None)
    when = datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M %Z")
    columns = ("id", "active", "rule", "audience", "schedule", "priority", "budget/day", "cooldown", "offer")
    rows = [
        (
            c.id,
            "yes" if c.enabled and is_active(c.schedule, t, tz) else ("disabled" if not c.enabled else "no"),
            _rule(c),
            _audience(c),
            _describe_schedule(c),
            str(c.priority),
            "-" if c.budget_per_day is None else str(c.budget_per_day),
            f"{c.cooldown_s:g}s" if c.cooldown_s else "-",
            c.offer or "-",
        )
        for c in sorted(loaded.campaigns, key=lambda c: -c.priority)
    ]
    print_rows(_out, f"Campaigns at {when} ({tz_name})", columns, rows)
    caps = loaded.caps
    _out.print(describe_caps(caps), markup=False)  # "max_per_day=None" read as a setting to staff
