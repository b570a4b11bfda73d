"""campaigns.toml: the rule model, the loader, and problems that name file, campaign and field.

SPEC section 3 fixes `id`, `zone`, `min_dwell_s`, `segments`, `cooldown_s`; docs/campaigns.md documents the rest.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from gateway.campaigns.schedule import Schedule, never_matches, repeated_times, skipped_times
from gateway.config import TOPIC_NAME_PATTERN, error_text, no_text_or_bool_for_number, unknown_key_message
from gateway.zones.estimate import OUTSIDE, UNKNOWN

DEFAULT_CAMPAIGNS_FILE = Path("config/campaigns.toml")

Trigger_On = Literal["dwell", "enter", "exit"]
# Nobody stays in one zone of a shop for a day: a dwell beyond this is a typo (minutes or milliseconds written as
# seconds) and the campaign would be accepted and never fire
MAX_DWELL_S = 86_400.0
# The gap between any two coupons beyond a month is a typo: an hour written in milliseconds is 3,600,000, 42 days.
# A campaign's own cooldown may be a quarter or a year ("once a year"): beyond a month it is named in a warning,
# beyond a year it is a typo. Above these counts a cap limits nothing (omit the key for no limit): also a typo.
MAX_INTERVAL_S = 31 * 86_400.0
LONG_COOLDOWN_S = MAX_INTERVAL_S
MAX_COOLDOWN_S = 366 * 86_400.0
MAX_PER_CUSTOMER = 1_000
MAX_BUDGET_PER_DAY = 1_000_000
# Priority only orders the campaigns that complete on one advertisement, a few dozen at most; beyond this it is a
# typo, and it is copied into every trigger, whose readers may hold no more than 2**53 (JavaScript) or 2**63
# (SQLite). 1e300 was refused as "exceeded maximum size", 10**30 taken.
MAX_PRIORITY = 1_000


def _seconds_at_most(limit_s: float, span: str, why: str) -> Any:
    """A validator refusing a duration over `limit_s` (`span` in words), saying `why` after the figures."""

    def check(v: float) -> float:
        if v > limit_s:
            # as written: "3600000 s", not "3.6e+06 s", beside a message that speaks of 3600000 milliseconds
            shown = f"{v:.0f}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"
            raise ValueError(f"{shown} s is over {span} ({limit_s:.0f} s): {why}")
        return v

    return check


_MS_HINT = "the value is in seconds (an hour is 3600, not the 3600000 of milliseconds)"
_plausible_interval = _seconds_at_most(MAX_INTERVAL_S, "31 days", _MS_HINT)
_plausible_cooldown = _seconds_at_most(MAX_COOLDOWN_S, "a year", _MS_HINT)


def _plausible_count(limit: int, what: str) -> Any:
    def check(v: int | None) -> int | None:
        if v is not None and v > limit:
            raise ValueError(f"{v} is over {limit:,}: more than {what}")
        return v

    return check


def _priority_in_range(v: Any) -> Any:
    # before pydantic's int parsing, which calls 1e300 "exceeded maximum size" and takes 1e15 as it is
    if isinstance(v, int | float) and not isinstance(v, bool) and not -MAX_PRIORITY <= v <= MAX_PRIORITY:
        raise ValueError(
            f"{v:g} is outside -{MAX_PRIORITY:,}..{MAX_PRIORITY:,}: it only orders the campaigns that complete at once"
        )
    return v


class CampaignsError(Exception):
    """The campaigns file cannot be used; `problems` are one line each, naming file, campaign and field."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.warnings = warnings or []  # what the rest of the file would be warned of: said at once, not next run


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # "inf" is no duration
    _no_text = field_validator("*", mode="before")(no_text_or_bool_for_number)


class Campaign(_Strict):
    id: str = Field(min_length=1, pattern=TOPIC_NAME_PATTERN)  # part of an MQTT topic
    zone: str = Field(min_length=1)
    on: Trigger_On = "dwell"
    min_dwell_s: float = Field(default=0.0, ge=0)
    segments: tuple[str, ...] | None = None  # any of them; None = everyone
    segments_all: tuple[str, ...] = ()
    segments_none: tuple[str, ...] = ()
    cooldown_s: float = Field(default=0.0, ge=0)
    sequence: tuple[str, ...] = ()  # zones that must have been visited, in this order, earlier in the visit
    schedule: Schedule | None = None
    priority: int = 0
    budget_per_day: int | None = Field(default=None, ge=0)  # per store (this gateway), per local day
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    offer: str | None = None  # coupon code or offer reference, passed through to the trigger
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _zone_from_sequence(cls, data: Any) -> Any:
        # `sequence = ["produce", "checkout"]` alone names the zone the rule completes in: its last element
        if (
            isinstance(data, dict)
            and "zone" not in data
            and isinstance(data.get("sequence"), list)
            and data["sequence"]
        ):
            data = dict(data)
            data["zone"] = data["sequence"][-1]
        return data

    _reachable_dwell = field_validator("min_dwell_s")(
        _seconds_at_most(
            MAX_DWELL_S,
            "a day",
            "no shopper stays that long, so the campaign could never fire (the value is in seconds)",
        )
    )
    _cooldown = field_validator("cooldown_s")(_plausible_cooldown)
    _priority = field_validator("priority", mode="before")(_priority_in_range)
    _budget = field_validator("budget_per_day")(
        _plausible_count(MAX_BUDGET_PER_DAY, "one store gives in a day; omit the key for no limit")
    )

    @field_validator("segments")
    @classmethod
    def _some_segment(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        # "one of no segments" is nobody: such a campaign passed validation and could never fire
        if v is not None and not v:
            raise ValueError("an empty list matches no customer; leave 'segments' out for everyone")
        return v

    @field_validator("segments", "segments_all", "segments_none")
    @classmethod
    def _segment_names(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        # the importer refuses a customer's blank segment and strips the others: such a name is nobody's
        for name in v or ():
            if not name.strip():
                raise ValueError("an empty segment name is no customer's segment")
            if name != name.strip():
                raise ValueError(f"{name!r} has spaces at either end, which no customer's segment name has")
        return v

    # field validators reading the fields before them (zone, on), so the problem names the key to change; as a
    # model check it was reported under "(campaign)"
    @field_validator("min_dwell_s")
    @classmethod
    def _no_dwell_on_enter(cls, v: float, info: ValidationInfo) -> float:
        if info.data.get("on") == "enter" and v > 0:
            raise ValueError("has no meaning for on = 'enter': use on = 'dwell', or leave min_dwell_s out")
        return v

    @field_validator("sequence")
    @classmethod
    def _sequence_ends_in_zone(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        zone = info.data.get("zone")
        if v and zone is not None and v[-1] != zone:
            raise ValueError(f"must end with the campaign's zone '{zone}' (or leave zone out: it is the last)")
        return v

    @property
    def required_before(self) -> tuple[str, ...]:
        """Zones that must precede the rule's own zone in the visit."""
        return self.sequence[:-1]

    def audience_matches(self, segments: frozenset[str]) -> bool:
        if self.segments is not None and not segments.intersection(self.segments):
            return False
        if not segments.issuperset(self.segments_all):
            return False
        return not segments.intersection(self.segments_none)


class PresenceSettings(_Strict):
    """How estimates become continuous presence; see docs/campaigns.md."""

    # estimates in another zone (or outside) for up to this long after the last one in Z do not end Z: a flicker
    gap_tolerance_s: float = Field(default=10.0, ge=0)
    # silence or UNKNOWN (no evidence of leaving) for up to this long does not end Z; longer restarts the dwell
    unknown_tolerance_s: float = Field(default=30.0, ge=0)
    settle_s: float = Field(default=5.0, ge=0)  # presence in a zone must last this long before "enter"
    visit_timeout_s: float = Field(default=900.0, gt=0)  # no in-store estimate for this long ends the visit

    # 1e308 or milliseconds: no presence event, no `enter` rule, or a visit that never ends
    _within_a_day = field_validator("gap_tolerance_s", "unknown_tolerance_s", "settle_s", "visit_timeout_s")(
        _seconds_at_most(MAX_DWELL_S, "a day", "the value is in seconds")
    )


class Caps(_Strict):
    """Per-customer limits across all campaigns."""

    max_per_visit: int | None = Field(default=2, ge=0)
    min_interval_s: float = Field(default=600.0, ge=0)
    max_per_day: int | None = Field(default=None, ge=0)  # local day in the store's time zone
    _interval = field_validator("min_interval_s")(_plausible_interval)
    _per_visit = field_validator("max_per_visit")(_plausible_count(MAX_PER_CUSTOMER, "any customer could be sent"))
    _per_day = field_validator("max_per_day")(
        _plausible_count(MAX_PER_CUSTOMER, "any customer could be sent; omit the key for no limit")
    )
    # the file's [presence] table rides along, so callers keep the (campaigns, caps, warnings) triple
    presence: PresenceSettings = PresenceSettings()


class _File(_Strict):
    campaign: list[dict[str, Any]] = []
    caps: Caps = Caps()
    presence: PresenceSettings = PresenceSettings()


class LoadedCampaigns(NamedTuple):
    campaigns: list[Campaign]
    caps: Caps  # caps.presence holds the [presence] table
    warnings: list[str]


# tables of the whole file that a campaign cannot hold: written as [campaign.caps] they were "misspelt?"
_FILE_TABLES = ("caps", "presence")


def _field_problems(prefix: str, err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(campaign)"
        if e["type"] != "extra_forbidden":
            msg = error_text(e)
        elif field in _FILE_TABLES:
            msg = f"unknown key: [{field}] is a table of the whole file, for every campaign, not of one campaign"
        else:
            msg = unknown_key_message(tuple(e["loc"]), Campaign, header="campaign.")
        out.append(f"{prefix}: {field}: {msg}")
    return out


def campaign_lines(text: str) -> list[int]:
    """Line numbers of the `[[campaign]]` headers, so a problem can point at the table in an editor."""
    # TOML ends a line at "\n" (or "\r\n"); splitlines() would also cut at U+2028 inside a string
    # "[[campaign]]  # weekend offer": a trailing comment must not hide a header (the lines would shift by one)
    return [n for n, line in enumerate(text.split("\n"), 1) if _CAMPAIGN_HEADER.match(line)]


_CAMPAIGN_HEADER = re.compile(r"\s*\[\[\s*campaign\s*\]\]\s*(#.*)?$")


def _label(path: Path, index: int, raw: Any, lines: list[int]) -> str:
    where = f"{path}:{lines[index]}" if index < len(lines) else str(path)
    cid = raw.get("id") if isinstance(raw, dict) else None
    return f"{where}: campaign '{cid}' (#{index + 1})" if isinstance(cid, str) else f"{where}: campaign #{index + 1}"


def load_campaigns(
    path: Path,
    zones: set[str] | None = None,
    segments: set[str] | None = None,
    today: date | None = None,
    tz: ZoneInfo | None = None,
) -> LoadedCampaigns:
    """Parse and check a campaigns file; raises CampaignsError listing every problem.

    `zones`/`segments` are the known names (None = unknown, not checked); `today` enables the "ended" warning,
    `today` and the store's `tz` the warnings about windows that start or end in a skipped (spring-forward) or
    repeated (fall-back) hour.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark opens the file, as gateway.toml's may
        data = tomllib.loads(unicodedata.normalize("NFC", text))  # "Café" typed on a Mac is the zone fit wrote
    except FileNotFoundError:
        raise CampaignsError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as e:
        raise CampaignsError([f"{path}: invalid TOML: {e}"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise CampaignsError([f"{path}: cannot read: {getattr(e, 'strerror', None) or e}"]) from None
    return parse_campaigns(data, path, zones, segments, today, campaign_lines(text), tz)


def parse_campaigns(
    data: dict[str, Any],
    path: Path,
    zones: set[str] | None = None,
    segments: set[str] | None = None,
    today: date | None = None,
    lines: list[int] | None = None,
    tz: ZoneInfo | None = None,
) -> LoadedCampaigns:
    """Check an already parsed document; `lines` are the `[[campaign]]` header lines, for messages."""
    lines = lines or []
    problems: list[str] = []
    warnings: list[str] = []
    if "campaign" in data and not isinstance(data["campaign"], list):
        raise CampaignsError([f"{path}: campaign: must be an array of tables ([[campaign]])"])
    if isinstance(data.get("caps"), dict) and "presence" in data["caps"]:
        problems.append(f"{path}: caps.presence: unknown key (presence settings go in a [presence] table)")
    try:
        top = _File.model_validate(data)
    except ValidationError as e:
        errs = [x for x in e.errors() if x["loc"][:1] != ("campaign",)]
        problems += [
            f"{path}: {'.'.join(str(p) for p in x['loc'])}: "
            + (unknown_key_message(tuple(x["loc"]), _File) if x["type"] == "extra_forbidden" else error_text(x))
            for x in errs
        ]
        top = _File()
    campaigns: list[Campaign] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data.get("campaign", [])):
        label = _label(path, i, raw, lines)
        if not isinstance(raw, dict):
            problems.append(f"{label}: must be a table")
            continue
        try:
            c = Campaign.model_validate(raw)
        except ValidationError as e:
            problems += _field_problems(label, e)
            # the rest of what can be told from the table as written, so that one run names every problem
            bad = {x["loc"][0] for x in e.errors() if x["loc"]}
            if isinstance(raw_id := raw.get("id"), str) and "id" not in bad:
                if raw_id in seen:
                    problems.append(f"{label}: id: duplicate of campaign #{seen[raw_id] + 1}")
                else:
                    seen[raw_id] = i
            names = raw.get("sequence") if "sequence" in raw else raw.get("zone")
            field = "sequence" if "sequence" in raw else "zone"
            if field not in bad and isinstance(names, str | list) and all(isinstance(z, str) for z in names):
                problems += _check_zone_names(label, field, (names,) if isinstance(names, str) else names, zones)
            continue
        if c.id in seen:
            problems.append(f"{label}: id: duplicate of campaign #{seen[c.id] + 1}")
            continue
        seen[c.id] = i
        problems += _check_zones(label, c, zones)
        if c.schedule is not None:
            reason = never_matches(c.schedule)
            if reason:
                problems.append(f"{label}: schedule: never matches ({reason})")
            elif today is not None and c.schedule.end_date is not None and c.schedule.end_date < today:
                warnings.append(f"{label}: schedule.end_date: ended on {c.schedule.end_date}")
            elif today is not None and tz is not None:
                changes = [*skipped_times(c.schedule, tz, today), *repeated_times(c.schedule, tz, today)]
                warnings += [f"{label}: schedule.hours: '{h}' {what}" for h, what in changes]
        if segments is not None:
            for field in ("segments", "segments_all"):
                for s in getattr(c, field) or ():
                    if s not in segments:
                        warnings.append(f"{label}: {field}: no customer has segment '{s}'")
        if c.budget_per_day == 0:
            warnings.append(f"{label}: budget_per_day: 0 means the campaign never fires")
        if c.cooldown_s > LONG_COOLDOWN_S:
            warnings.append(
                f"{label}: cooldown_s: {c.cooldown_s:.0f} s is {c.cooldown_s / 86_400:.0f} days, one coupon per "
                "customer in that time (if it was meant in milliseconds, an hour is 3600)"
            )
        campaigns.append(c)
    if problems:
        raise CampaignsError(problems, warnings)
    labels = {c.id: _label(path, seen[c.id], {"id": c.id}, lines) for c in campaigns}
    warnings += [f"{labels[b.id]}: {msg}" for b, msg in shadowed(campaigns, top.caps)]
    caps = top.caps.model_copy(update={"presence": top.presence})
    return LoadedCampaigns(campaigns, caps, warnings)


def _check_zones(label: str, c: Campaign, zones: set[str] | None) -> list[str]:
    # a sequence ends with the zone (often it is where the zone came from): each name once, under the key written
    field, names = ("sequence", c.sequence) if c.sequence else ("zone", (c.zone,))
    return _check_zone_names(label, field, names, zones)


def _check_zone_names(label: str, field: str, names: Iterable[str], zones: set[str] | None) -> list[str]:
    out = []
    for z in dict.fromkeys(names):
        if z in (UNKNOWN, OUTSIDE):
            out.append(f"{label}: {field}: '{z}' is not a store zone (rules never fire on it)")
        elif zones is not None and z not in zones:
            known = ", ".join(sorted(zones)) or "none"
            out.append(f"{label}: {field}: unknown zone '{z}' (zones: {known})")
    return out


def _audience_covers(a: Campaign, b: Campaign) -> bool:
    """Every customer b could reach is also reached by a."""
    if a.segments is not None and (b.segments is None or not set(b.segments) <= set(a.segments)):
        return False
    return set(a.segments_all) <= set(b.segments_all) and set(a.segments_none) <= set(b.segments_none)


def shadowed(campaigns: list[Campaign], caps: Caps) -> list[tuple[Campaign, str]]:
    """Campaigns that can never fire because others always take every slot a visit allows (`max_per_visit`).

    Campaign a is always ahead of b when, whenever b's rule completes, a's has completed in the same episode and
    goes first: same zone and event, a dwell no longer and a confidence no higher, and either the higher priority
    (or, equal, the earlier place in the file) or, with no `min_interval_s`, a strictly shorter dwell. With
    `min_interval_s` a shorter dwell alone is not enough: a rule the interval holds back fires when it lifts, and if
    b's has completed by then the priority decides (docs/campaigns.md). a must also fire on every visit and for
    everyone b reaches: no schedule, budget or cooldown, an audience covering b's. A fallback offer that fires
    while the other one is on cooldown, over budget, out of schedule or redeemed is a legitimate design and is not
    reported.
    """
    out: list[tuple[Campaign, str]] = []
    slots = caps.max_per_visit
    if slots is None:
        return out
    order = {c.id: i for i, c in enumerate(campaigns)}

    def ahead(a: Campaign, b: Campaign) -> bool:
        by_rank = (a.priority, -order[a.id]) > (b.priority, -order[b.id])
        # an exit rule completes when the customer leaves, whatever its dwell: there only the priority orders them
        by_time = caps.min_interval_s == 0 and a.on == "dwell" and a.min_dwell_s < b.min_dwell_s
        return (
            (by_rank or by_time)
            and a.zone == b.zone
            and a.on == b.on
            and not a.sequence
            and a.min_dwell_s <= b.min_dwell_s
            and a.min_confidence <= b.min_confidence
            and a.schedule is None
            and a.budget_per_day is None
            and a.cooldown_s == 0
            and _audience_covers(a, b)
        )

    for b in campaigns:
        first = [a for a in campaigns if a is not b and a.enabled and ahead(a, b)]
        if len(first) < slots:
            continue
        if slots == 1:
            out.append((b, f"unreachable: campaign '{first[0].id}' (same zone, fires first) always takes the slot"))
        else:
            names = ", ".join(f"'{a.id}'" for a in first[:slots])
            out.append(
                (b, f"unreachable: campaigns {names} (same zone, fire first) always take the {slots} slots a visit "
                 "allows (caps.max_per_visit)")
            )  # fmt: skip
    return out


def describe_caps(caps: Caps) -> str:
    """The limits across campaigns in words, for `campaigns validate` and `config check`: with no [caps] table the
    defaults apply, and a marketer who never wrote them would otherwise wonder where half the coupons went."""
    parts = ["no limit a visit" if caps.max_per_visit is None else f"at most {caps.max_per_visit} a visit"]
    if caps.min_interval_s > 0:
        parts.append(f"{caps.min_interval_s:g} s apart")
    if caps.max_per_day is not None:
        parts.append(f"at most {caps.max_per_day} a day")
    default = Caps()
    same = (caps.max_per_visit, caps.min_interval_s, caps.max_per_day) == (
        default.max_per_visit,
        default.min_interval_s,
        default.max_per_day,
    )
    return "coupons per customer: " + ", ".join(parts) + (" (the defaults; [caps] changes them)" if same else "")
