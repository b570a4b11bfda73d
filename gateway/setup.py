"""Loading a whole config directory and building the pipeline from it.

`load_config_dir` collects every problem of every file before it raises, so `config check` can report them
all at once (store staff fix a config in one pass, not one error per run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gateway.config import TLS_KEYS, ConfigError, GatewayConfig, load_gateway_config, read_toml

if TYPE_CHECKING:
    from gateway.campaigns.history import History
    from gateway.campaigns.model import Campaign, Caps
    from gateway.identity.models import Customer
    from gateway.pipeline import Pipeline
    from gateway.sources.recording import Header
    from gateway.zones.model import ZoneModel

GATEWAY_FILE = "gateway.toml"
ZONES_FILE = "zones.toml"
CAMPAIGNS_FILE = "campaigns.toml"


@dataclass
class LoadedConfig:
    config_dir: Path
    gateway: GatewayConfig
    zones: ZoneModel
    campaigns: list[Campaign]
    caps: Caps
    warnings: list[str] = field(default_factory=list)


def load_campaigns_file(path: Path, zones: set[str] | None) -> tuple[list[Campaign], Caps, list[str]]:
    from gateway.campaigns.model import CampaignsError, load_campaigns

    try:
        return load_campaigns(path, zones=zones)
    except CampaignsError as e:
        raise ConfigError(list(e.problems), list(e.warnings)) from None


def campaign_warnings_with(loaded: LoadedConfig, *, segments: set[str] | None, today: date | None = None) -> list[str]:
    """The campaigns' warnings that need more than the files, beyond those `load_config_dir` gave: a segment no
    consenting customer has (`segments`: theirs), and with `today` (the wall clock's, for the commands that read
    the config now) an end_date gone by and windows the clocks' changes cut. `campaigns validate` gives them all;
    so should `config check`, `replay`, the daemon and `proximity-sim evaluate`, which a silent campaign puzzles."""
    from gateway.campaigns.model import CampaignsError, load_campaigns
    from gateway.campaigns.schedule import store_zone

    try:
        full = load_campaigns(
            loaded.config_dir / CAMPAIGNS_FILE,
            zones=set(loaded.zones.zones),
            segments=segments,
            today=today,
            tz=store_zone(loaded.gateway.timezone) if today is not None else None,
        )
    except (CampaignsError, ValueError):  # read a moment ago; a config dir edited since is the next run's to name
        return []
    return [w for w in full.warnings if w not in loaded.warnings]


def load_config_dir(config_dir: Path) -> LoadedConfig:
    from gateway.zones.model import ZoneModel, ZonesError

    problems: list[str] = []
    gateway: GatewayConfig | None = None
    zones: ZoneModel | None = None
    campaigns: list[Campaign] = []
    caps: Caps | None = None
    warnings: list[str] = []
    if not config_dir.is_dir():
        raise ConfigError([f"{config_dir}: config directory not found"])
    try:
        gateway = load_gateway_config(config_dir)
    except ConfigError as e:
        problems.extend(e.problems)
    zones_path = config_dir / ZONES_FILE
    if zones_path.exists():
        try:
            zones = ZoneModel.load(zones_path)
        except ZonesError as e:
            problems.extend(e.problems)
    else:
        problems.append(f"{zones_path}: file not found (create it with `proximity-gateway calibrate fit`)")
    try:
        campaigns, caps, warnings = load_campaigns_file(
            config_dir / CAMPAIGNS_FILE, set(zones.zones) if zones is not None else None
        )
    except ConfigError as e:
        problems.extend(e.problems)
        warnings.extend(e.warnings)
    if gateway is not None and gateway.customers_file is not None and not gateway.customers_file.is_file():
        what = "is a directory, not a file" if gateway.customers_file.is_dir() else "not found"
        problems.append(f"{config_dir / GATEWAY_FILE}: customers_file: {gateway.customers_file} {what}")
    if (
        gateway is not None
        and not gateway.mqtt.tls
        and (unused := [k for k in TLS_KEYS if getattr(gateway.mqtt, k) is not None])
    ):
        # the store meant TLS: without mqtts:// the files are never read and the password goes in clear text
        warnings.append(
            f"{config_dir / GATEWAY_FILE}: mqtt.{', mqtt.'.join(unused)}: set, but mqtt.url {gateway.mqtt.url} "
            "is not mqtts://, so the connection is not encrypted and they are not used; write mqtts:// to use TLS"
        )
    if gateway is not None:
        warnings.extend(password_warnings(config_dir / GATEWAY_FILE, gateway))
    if problems:  # with the warnings found beside them: a person fixing the errors sees the rest at once
        raise ConfigError(problems, warnings)
    assert gateway is not None and zones is not None and caps is not None
    return LoadedConfig(config_dir, gateway, zones, campaigns, caps, warnings)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def password_warnings(path: Path, gateway: GatewayConfig) -> list[str]:
    """A broker password where others can read it: in gateway.toml (which the install guide keeps readable to
    all), or sent in clear text over mqtt:// to a broker on another machine."""
    out = []
    try:
        written = isinstance(read_toml(path).get("mqtt", {}).get("password"), str)
    except (ConfigError, AttributeError):
        written = False
    if written:
        out.append(
            f"{path}: mqtt.password: written in the file, which is readable to all (install guide, section 3): "
            "put it in secrets.env as PROXIMITY_MQTT__PASSWORD"
        )
    host = urlsplit(gateway.mqtt.url).hostname or ""
    if gateway.mqtt.password is not None and not gateway.mqtt.tls and host not in LOOPBACK_HOSTS:
        out.append(
            f"{path}: mqtt.url: {gateway.mqtt.url} is not mqtts://, so the broker password (and the consent "
            "messages' keys) cross the network in clear text; use mqtts:// (install guide, section 3)"
        )
    return out


def build_pipeline(
    loaded: LoadedConfig,
    customers: list[Customer] | None = None,
    history: History | None = None,
    now: Callable[[], float] | None = None,
) -> Pipeline:
    """The pure pipeline. Without `customers`, those of gateway.toml's customers_file are used (offline use)."""
    from gateway.campaigns.engine import CampaignEngine
    from gateway.campaigns.history import MemoryHistory
    from gateway.identity.resolver import Resolver
    from gateway.pipeline import Pipeline
    from gateway.zones.tracker import ZoneTracker

    cfg = loaded.gateway
    if customers is None:
        customers = customers_from_file(cfg.customers_file) if cfg.customers_file else []
    resolver = Resolver(customers, token_company_id=cfg.recognition.token_company_id, purposes=cfg.recognition.purposes)
    engine = CampaignEngine(
        loaded.campaigns,
        history if history is not None else MemoryHistory(),
        cfg.store_id,
        cfg.gateway_id,
        resolver.segments,
        caps=loaded.caps,
        timezone=cfg.timezone,
        now=now,
    )
    return Pipeline(resolver, ZoneTracker(loaded.zones), engine)


def customers_from_file(path: Path) -> list[Customer]:
    """Consenting customers of a customers file, without touching any registry (offline evaluation)."""
    from gateway.identity.importer import read_customers_file

    report = read_customers_file(path)
    return [c for c in report.customers if c.consent]


def left_out_warnings(left_out_s: dict[str, float]) -> list[str]:
    """Receivers the zones were estimated without for part of a replay or evaluation (zones/liveness.py)."""
    return [
        f"receiver {rx} went silent although customers were where the calibration walk heard it: zones were "
        f"estimated without it for {s:,.0f} s of the recording (a dead node or adapter? install guide, section 7)"
        for rx, s in sorted(left_out_s.items())
    ]


def input_warnings(header: Header, store_id: str | None, unknown_rx: dict[str, int], zones_file: Path) -> list[str]:
    """What makes a replay or an evaluation decide on less than it seems to: another store's recording (when the
    store is known), or receivers the zone model does not know (their readings of recognised customers are
    ignored)."""
    out = []
    if store_id is not None and header.store_id is not None and header.store_id != store_id:
        out.append(f"the recording is from store {header.store_id!r}; the config is store {store_id!r}")
    if unknown_rx:
        named = ", ".join(f"{rx} ({n} readings)" for rx, n in sorted(unknown_rx.items()))
        out.append(
            f"receivers not in {zones_file}: {named}; their readings are ignored (a renamed or new receiver needs "
            "the zones refitted)"
        )
    return out
