"""gateway.toml: the model, the loader, and errors that name file and field.

Environment variables override the file (`PROXIMITY_MQTT__PASSWORD=...`), so secrets can come from a
systemd credential or EnvironmentFile instead of a world-readable TOML.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from gateway.adverts import ADDRESS_RE, DEFAULT_TOKEN_COMPANY_ID

ENV_PREFIX = "PROXIMITY_"
TOPIC_NAME_PATTERN = r"^[A-Za-z0-9._-]+$"  # store, gateway and campaign ids are MQTT topic levels: no '/', '+', '#'

DEFAULT_CONFIG_DIR = Path("config")


class ConfigError(Exception):
    """One or more configuration problems; `problems` are 'file: field: message' lines."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.warnings = warnings or []  # found beside the problems: a person fixing them sees these too


def _takes_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    return get_origin(annotation) in (Union, UnionType) and any(a in (int, float) for a in get_args(annotation))


def no_bool_for_number(cls: type[BaseModel], v: Any, info: ValidationInfo) -> Any:
    """For `field_validator("*", mode="before")` on a model a person writes in TOML: pydantic reads true as 1,
    so `min_dwell_s = true` was a 1 s dwell and `keepalive_s = false` a 0 s one."""
    if (
        isinstance(v, bool)
        and info.field_name is not None
        and _takes_number(cls.model_fields[info.field_name].annotation)
    ):
        raise ValueError(f"{str(v).lower()} is not a number")
    return v


def no_text_or_bool_for_number(cls: type[BaseModel], v: Any, info: ValidationInfo) -> Any:
    """As `no_bool_for_number`, and text too, for files nothing else feeds: pydantic read `min_dwell_s = "90"` as
    90 and `validate` said ok, where a marketer who quoted one number may have quoted another wrongly ("1h").
    (gateway.toml takes text for numbers: the PROXIMITY_* environment is all text.) Likewise a switch takes only
    true or false: pydantic read `enabled = "yes"` as true, `"false"` and `0` as false."""
    if info.field_name is not None and cls.model_fields[info.field_name].annotation is bool and type(v) is not bool:
        shown = json.dumps(v) if isinstance(v, str | int | float) else f"a {type(v).__name__}"
        quotes = ", without quotes" if isinstance(v, str) else ""
        raise ValueError(f"{shown} is not true or false (write true or false{quotes})")
    if (
        isinstance(v, str)
        and info.field_name is not None
        and _takes_number(cls.model_fields[info.field_name].annotation)
    ):
        raise ValueError(f"{json.dumps(v)} is text, not a number (write it without quotes)")
    return no_bool_for_number(cls, v, info)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf passes gt=0; it is no duration
    _no_bool = field_validator("*", mode="before")(no_bool_for_number)


TLS_KEYS = ("ca_file", "cert_file", "key_file")  # the [mqtt] files, read only with an mqtts:// url


class MqttSettings(_Strict):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    ca_file: Path | None = None  # CA bundle for mqtts://; None = system trust store
    cert_file: Path | None = None  # client certificate (mutual TLS)
    key_file: Path | None = None
    client_id: str | None = None  # default: "{store_id}-{gateway_id}"
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    topic_prefix: str = "proximity"
    reconnect_max_s: float = Field(default=30.0, gt=0)

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, v: str) -> str:
        # several levels are fine ("acme/proximity"); a wildcard or an empty level would subscribe to, or publish
        # into, topics that are not this store's
        if not v or "+" in v or "#" in v or "" in v.split("/"):
            raise ValueError("must be one or more non-empty topic levels without '+' or '#'")
        if not v.isprintable():  # MQTT forbids NUL in a topic; the broker dropped the connection, named as a timeout
            raise ValueError("must hold no control characters")
        return v

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError("must start with mqtt:// or mqtts://")
        if not parts.hostname:
            raise ValueError("has no host")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if port == 0:  # "no port" to urllib: the default would be used, i.e. some other broker on 1883/8883
            raise ValueError("has an invalid port (0)")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError("is a broker address (mqtt[s]://host[:port]); a path or query would be ignored")
        if parts.username is not None or parts.password is not None:
            # mqtt://user:pass@host is common, but a URL is printed by config check, status and every broker
            # error: the password would be in logs and terminals (and was silently not used)
            raise ValueError(
                "carries a user name or password: give them as [mqtt] username and password "
                "(the password best from PROXIMITY_MQTT__PASSWORD or a systemd credential), not in the URL"
            )
        return v

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"


class ScannerSettings(_Strict):
    adapter: str | None = None  # "hci0"; None = BlueZ default adapter
    mode: Literal["active", "passive"] = "active"
    silence_restart_s: float = Field(default=90.0, gt=0)  # habluetooth's figure: restart after 90 s of nothing
    restart_backoff_max_s: float = Field(default=60.0, gt=0)


class RecognitionSettings(_Strict):
    token_company_id: int = Field(default=DEFAULT_TOKEN_COMPANY_ID, ge=0, le=0xFFFF)
    # Purpose limitation: a customer is recognised only if their consent was given for one of these (a record's
    # `purpose`; a record without one is "marketing"). One who agreed to analytics alone gets no coupons.
    purposes: list[str] = ["marketing"]

    @field_validator("purposes")
    @classmethod
    def _check_purposes(cls, v: list[str]) -> list[str]:
        if not v or any(not p.strip() for p in v):
            raise ValueError('must name at least one purpose, e.g. ["marketing"]')
        return v


class CalibrationSettings(_Strict):
    """Reference tags of the store's own calibration walks (docs/zones.md). A receiver node forwards their
    advertisements to `calibrate record` on the primary, the way it forwards consenting customers'; list only
    tags the store owns, never a person's device."""

    tags: list[str] = []

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not ADDRESS_RE.match(tag):
                raise ValueError(f"{tag!r} is not a Bluetooth address like AA:BB:CC:DD:EE:FF")
        return [tag.upper() for tag in v]


class MetricsSettings(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"  # loopback unless someone decides otherwise
    port: int = Field(default=9464, ge=1, le=65535)


class HistorySettings(_Strict):
    # Data minimisation: presence stays and learnt phone offsets older than this are deleted from history.db, and
    # triggers too unless a campaign's cooldown or the caps' interval still needs them. Redemptions are kept.
    retention_days: float = Field(default=90.0, gt=0, le=3650)


class GatewayConfig(_Strict):
    store_id: str = Field(min_length=1, pattern=TOPIC_NAME_PATTERN)
    gateway_id: str = Field(min_length=1, pattern=TOPIC_NAME_PATTERN)
    state_dir: Path = Path("state")
    timezone: str = "UTC"  # the store's time zone, for campaign schedules
    customers_file: Path | None = None  # imported into the registry at start (idempotent); optional
    # standalone: decides on its own radio. primary: also takes the sightings of the store's other receivers.
    # node: a receiver only: recognises and publishes sightings for the primary, decides nothing itself.
    role: Literal["standalone", "primary", "node"] = "standalone"
    mqtt: MqttSettings = MqttSettings()
    scanner: ScannerSettings = ScannerSettings()
    recognition: RecognitionSettings = RecognitionSettings()
    metrics: MetricsSettings = MetricsSettings()
    calibration: CalibrationSettings = CalibrationSettings()
    history: HistorySettings = HistorySettings()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'Europe/Berlin')") from None
        return v

    def resolve_paths(self, config_dir: Path) -> GatewayConfig:
        """Relative paths in the file are relative to the config directory (SPEC §3)."""

        def rel(p: Path | None) -> Path | None:
            if p is None or p.is_absolute():
                return p
            return config_dir / p

        mqtt = self.mqtt.model_copy(
            update={
                "ca_file": rel(self.mqtt.ca_file),
                "cert_file": rel(self.mqtt.cert_file),
                "key_file": rel(self.mqtt.key_file),
            }
        )
        state_dir = rel(self.state_dir)
        assert state_dir is not None
        return self.model_copy(
            update={"state_dir": state_dir, "mqtt": mqtt, "customers_file": rel(self.customers_file)}
        )


def validator_message(msg: object) -> str:
    """pydantic's message for a validator's ValueError, without the "Value error, " it puts in front."""
    return str(msg).removeprefix("Value error, ")


def error_text(e: Mapping[str, Any]) -> str:
    """One pydantic error in a person's words: a list written as one value was "Input should be a valid tuple"."""
    if e["type"] in ("tuple_type", "list_type"):
        given = e.get("input")
        if isinstance(given, str | int | float):  # bool is an int
            return f"{json.dumps(given)} is not a list: write it in brackets, {json.dumps([given])}"
        return "not a list: write it in brackets, [...]"
    ctx, given = e.get("ctx") or {}, e.get("input")
    shown = json.dumps(given) if isinstance(given, str | int | float) and not isinstance(given, bool) else None
    bounds = {"greater_than_equal": ("ge", "{} or more"), "greater_than": ("gt", "more than {}"),
              "less_than_equal": ("le", "{} or less"), "less_than": ("lt", "less than {}")}  # fmt: skip
    if e["type"] in bounds and shown is not None:
        key, words = bounds[e["type"]]
        limit = ctx.get(key)
        return f"must be {words.format(f'{limit:g}' if isinstance(limit, int | float) else limit)}, not {shown}"
    if e["type"] == "missing":
        return "missing: this key is required"
    if e["type"] == "string_pattern_mismatch" and ctx.get("pattern") == TOPIC_NAME_PATTERN and shown is not None:
        return f"{shown} may hold only letters, digits, '.', '_' and '-' (it becomes part of MQTT topics)"
    return validator_message(e["msg"])


def unknown_key_message(loc: tuple[Any, ...], root: type[BaseModel], header: str = "") -> str:
    """A key a table does not take. TOML puts every key written below a [table] header into that table, so a
    correctly spelt key of the level above, written after the header, lands there: say so, not "misspelt?".
    A misspelt key is offered the table's key it is closest to (`segmnets`: did you mean 'segments'?)."""
    if len(loc) >= 2 and loc[-1] in root.model_fields:
        table = header + ".".join(str(p) for p in loc[:-1])  # as the header is written: [campaign.schedule]
        return (
            f"unknown key: '{loc[-1]}' is written after the [{table}] header, so TOML reads it as part of it; "
            "move it above"
        )
    keys = _keys_at(root, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.75)
    return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key (misspelt?)"


def _keys_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys of the table at `path` below `model` ([] where the path leaves the models)."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        inner = [a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)]
        models = [a for a in inner if issubclass(a, BaseModel)]
        if not models:
            return []
        model = models[0]
    return list(model.model_fields)


def format_validation_error(file: Path | str, err: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """One line per problem, naming file and field; `model` is the file's (default: gateway.toml's)."""
    out = []
    for e in err.errors():
        msg = error_text(e)
        if e["type"] == "extra_forbidden":
            msg = unknown_key_message(tuple(e["loc"]), model or GatewayConfig)
        # a check of the whole file names what it is about in its message: no "(top level)" before it
        field = ".".join(str(p) for p in e["loc"])
        out.append(f"{file}: {field}: {msg}" if field else f"{file}: {msg}")
    return out


def read_toml(path: Path) -> dict[str, Any]:
    try:
        # utf-8-sig: a byte-order mark (Windows editors) opens the file, as customers and truth files may
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: invalid TOML: {e}"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([f"{path}: not UTF-8 text (byte {e.start})"]) from None
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from None


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """PROXIMITY_MQTT__PASSWORD=x -> {"mqtt": {"password": "x"}}, and which variable set each path (so a problem
    with it names the variable, not gateway.toml)."""
    out: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for key, value in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                other = origin.get(tuple(path[: i + 1]), "?")
                raise ConfigError([f"environment: {key} and {other} both set {'.'.join(path[: i + 1])}"])
            node = child
        node[path[-1]] = _env_list(value) if _is_list_field(path) else value
        origin[tuple(path)] = key
    return out, origin


def _is_list_field(path: list[str]) -> bool:
    """Whether gateway.toml's key at `path` holds a list: only those read an environment value as one (a password
    that happens to start with a bracket stays the text it is)."""
    model: Any = GatewayConfig
    for part in path[:-1]:
        f = model.model_fields.get(part)
        model = f.annotation if f is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return False
    f = model.model_fields.get(path[-1])
    return f is not None and get_origin(f.annotation) is list


def _env_list(text: str) -> Any:
    """A list (calibration tags, purposes) is written as in gateway.toml, in brackets, with either quotes:
    PROXIMITY_CALIBRATION__TAGS='["D4:..."]'. Anything else stays text, which the model names as not a list."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, list) else text


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), dict):
            merged[k] = _merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def gateway_document(config_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """gateway.toml as written with the PROXIMITY_* environment applied, unvalidated ({} when unreadable): for a
    command that needs a key or two (the time zone, the state directory) and must work where the rest of the file
    does not validate, such as a marketer's copy of the config."""
    try:
        data = read_toml(config_dir / "gateway.toml")
    except ConfigError:
        data = {}
    try:
        return _merge(data, _env_overrides(os.environ if environ is None else environ)[0])
    except ConfigError:  # two variables at odds: `config check` names them; here the file alone
        return data


def load_gateway_config(
    config_dir: Path, environ: Mapping[str, str] | None = None, *, writing: bool = True
) -> GatewayConfig:
    """gateway.toml with the environment's overrides, checked. `writing=False` for a command that only reads the
    state directory (`status`): an SD card remounted read-only is when its report is needed most."""
    path = config_dir / "gateway.toml"
    data = read_toml(path)
    overrides, origin = _env_overrides(os.environ if environ is None else environ)
    data = _merge(data, overrides)
    try:
        cfg = GatewayConfig.model_validate(data)
    except ValidationError as e:
        problems = format_validation_error(path, e)
        for i, err in enumerate(e.errors()):
            loc = tuple(str(p) for p in err["loc"])
            var = next((v for k, v in origin.items() if loc[: len(k)] == k), None)
            if var is not None:  # the value came from the environment, not the file
                problems[i] = f"environment {var}: " + problems[i].split(": ", 1)[1]
        raise ConfigError(problems) from None
    resolved = cfg.resolve_paths(config_dir)
    if problems := _path_problems(path, resolved, os.environ if environ is None else environ, writing=writing):
        raise ConfigError(problems)
    return resolved


def state_dir_origin(environ: Mapping[str, str], file: str) -> str:
    """What to name in a problem with state_dir: the environment variable when it set it, else the file."""
    return f"environment {ENV_PREFIX}STATE_DIR" if f"{ENV_PREFIX}STATE_DIR" in environ else file


def _unwritable(state_dir: Path) -> str | None:
    """Why the gateway could not write in an existing state directory (a read-only mount, an immutable one), or
    None. Tried with a temporary file; a permission denied to the person running a command is not the service's
    problem (its directory is its own) and is not reported."""
    try:
        if not state_dir.is_dir():
            return None  # made at first start (systemd's StateDirectory=, or the gateway itself)
        with tempfile.TemporaryFile(dir=state_dir, prefix=".probe-"):
            return None
    except PermissionError as e:
        return None if e.errno == errno.EACCES else f"cannot write there: {e.strerror}"
    except OSError as e:
        return f"cannot write there: {e.strerror or e}"


# systemd puts a unit's LoadCredential= files here, in a directory that exists only while the unit runs
SYSTEMD_CREDENTIALS_DIR = Path("/run/credentials")


def service_credentials(cfg: GatewayConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """The TLS keys naming a systemd credential that is not there to check: the install guide hands the client
    key to the service so (`key_file = "/run/credentials/proximity-gateway.service/client.key"`), and a command
    run by hand (`config check`, `customers import`, `status`) is outside the service. Inside it, where systemd
    sets CREDENTIALS_DIRECTORY, the file is checked like any other."""
    if "CREDENTIALS_DIRECTORY" in (os.environ if environ is None else environ):
        return []
    return [
        key
        for key in TLS_KEYS
        if (p := getattr(cfg.mqtt, key)) is not None and p.is_relative_to(SYSTEMD_CREDENTIALS_DIR) and not p.exists()
    ]


def _path_problems(path: Path, cfg: GatewayConfig, environ: Mapping[str, str], *, writing: bool = True) -> list[str]:
    """Paths the daemon would only trip over once running: a state_dir that is a file, a missing TLS file."""
    out = []
    where = state_dir_origin(environ, str(path))
    try:
        not_a_dir = cfg.state_dir.exists() and not cfg.state_dir.is_dir()
    except PermissionError:
        # the service's own (DynamicUser: /var/lib/private is root's alone): commands run by hand without sudo,
        # such as `config check` or a walk with a tag, have no business there; those that need it say so
        not_a_dir = False
    if not_a_dir:
        out.append(f"{where}: state_dir: {cfg.state_dir} exists and is not a directory")
    elif writing and (unwritable := _unwritable(cfg.state_dir)) is not None:
        out.append(f"{where}: state_dir: {cfg.state_dir}: {unwritable}")
    elsewhere = service_credentials(cfg, environ)
    for key in TLS_KEYS:
        p = getattr(cfg.mqtt, key)
        if p is not None and key not in elsewhere and not p.is_file():
            out.append(f"{path}: mqtt.{key}: {'a directory, not a file' if p.is_dir() else 'no such file'}: {p}")
    return out
