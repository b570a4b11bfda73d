"""campaigns.toml: every problem is one line naming file, campaign and field; the documented example is valid."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from gateway.campaigns.model import CampaignsError, load_campaigns

ZONES = {"coffee", "bakery", "checkout", "produce", "dairy"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "campaigns.md"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "campaigns.toml"
    p.write_text(text, encoding="utf-8")
    return p


def problems(tmp_path: Path, text: str, **kw: object) -> list[str]:
    with pytest.raises(CampaignsError) as e:
        load_campaigns(write(tmp_path, text), zones=ZONES, **kw)  # type: ignore[arg-type]
    return e.value.problems


def docs_example() -> str:
    m = re.search(r"## Example\n\n```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert m is not None
    return m.group(1)


def test_documented_example_is_valid(tmp_path: Path) -> None:
    campaigns, caps, warnings = load_campaigns(write(tmp_path, docs_example()), zones=ZONES)
    assert [c.id for c in campaigns] == ["coffee-10", "welcome-bakery", "checkout-thanks", "produce-then-dairy"]
    assert caps.max_per_visit == 2 and caps.max_per_day == 4 and caps.presence.gap_tolerance_s == 10
    assert campaigns[3].zone == "dairy" and campaigns[3].required_before == ("produce",)
    assert warnings == []


def test_spec_minimal_file(tmp_path: Path) -> None:
    text = (
        '[[campaign]]\nid = "coffee-10"\nzone = "coffee"\nmin_dwell_s = 30\nsegments = ["coffee"]\ncooldown_s = 86400\n'
    )
    (c,), _, _ = load_campaigns(write(tmp_path, text), zones=ZONES)
    assert (c.zone, c.min_dwell_s, c.segments, c.cooldown_s, c.on) == ("coffee", 30, ("coffee",), 86400, "dwell")


def test_unknown_zone_and_negative_dwell_name_campaign_and_field(tmp_path: Path) -> None:
    text = """
[[campaign]]
id = "a"
zone = "cofee"
[[campaign]]
id = "b"
zone = "coffee"
min_dwell_s = -5
"""
    got = problems(tmp_path, text)
    p = tmp_path / "campaigns.toml"
    assert got[0].startswith(f"{p}:2: campaign 'a' (#1): zone: unknown zone 'cofee'")  # line of its [[campaign]]
    assert got[1].startswith(f"{p}:5: campaign 'b' (#2): min_dwell_s: ")
    assert len(got) == 2


def test_duplicate_ids_missing_id_and_typos(tmp_path: Path) -> None:
    text = """
[[campaign]]
id = "a"
zone = "coffee"
[[campaign]]
id = "a"
zone = "bakery"
[[campaign]]
zone = "bakery"
[[campaign]]
id = "c"
zone = "bakery"
min_dwel_s = 3
"""
    got = problems(tmp_path, text)
    assert any("campaign 'a' (#2): id: duplicate of campaign #1" in g for g in got)
    assert any("campaign #3: id: missing: this key is required" in g for g in got)
    assert any("campaign 'c' (#4): min_dwel_s: unknown key (did you mean 'min_dwell_s'?)" in g for g in got)


def test_a_misspelt_key_is_offered_the_key_it_is_closest_to(tmp_path: Path) -> None:
    text = """
[caps]
max_per_visti = 1
[[campaign]]
id = "c"
zone = "bakery"
segmnets = ["x"]
colour = "red"
[campaign.schedule]
hour = ["08:00-10:00"]
"""
    got = problems(tmp_path, text)
    assert any(g.endswith("caps.max_per_visti: unknown key (did you mean 'max_per_visit'?)") for g in got), got
    assert any(g.endswith("(#1): segmnets: unknown key (did you mean 'segments'?)") for g in got), got
    assert any(g.endswith("(#1): schedule.hour: unknown key (did you mean 'hours'?)") for g in got), got
    assert any(g.endswith("(#1): colour: unknown key (misspelt?)") for g in got), got  # nothing close: no guess


def test_a_campaign_with_a_bad_field_still_has_its_zone_and_id_checked(tmp_path: Path) -> None:
    """`config check` promises every problem at once: a campaign with a bad field skipped its zone and id checks,
    so its misspelt zone and duplicate id surfaced only after the field was fixed, one more round trip."""
    text = """
[[campaign]]
id = "a"
zone = "cofee"
min_dwell_s = -5
[[campaign]]
id = "a"
sequence = ["bakery", "dary"]
min_dwell_s = "90"
[[campaign]]
id = 7
zone = "bakery"
"""
    got = problems(tmp_path, text)
    assert any("campaign 'a' (#1): zone: unknown zone 'cofee'" in g for g in got), got
    assert any("campaign 'a' (#2): id: duplicate of campaign #1" in g for g in got), got
    assert any("campaign 'a' (#2): sequence: unknown zone 'dary'" in g for g in got), got
    assert sum("min_dwell_s" in g for g in got) == 2 and sum("id:" in g for g in got) == 2, got  # no guesses


def test_caps_written_under_a_campaign_are_pointed_to_the_file_level_table(tmp_path: Path) -> None:
    """`[campaign.caps]` read "caps: unknown key (misspelt?)": nothing misspelt, the table is in the wrong place."""
    text = """
[[campaign]]
id = "c"
zone = "bakery"
[campaign.caps]
max_per_day = 1
"""
    got = problems(tmp_path, text)
    assert len(got) == 1 and got[0].endswith(
        "campaign 'c' (#1): caps: unknown key: [caps] is a table of the whole file, for every campaign, not of one "
        "campaign"
    ), got


def test_an_unknown_zone_of_a_sequence_is_one_problem_under_sequence(tmp_path: Path) -> None:
    """The documented `sequence = ["produce", "dairy"]` in a store without dairy was reported twice, once under
    `zone`, a key the campaign does not have (the zone is the sequence's last)."""
    label = f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1)"
    zones = ZONES - {"dairy"}
    for text in ('sequence = ["dairy", "produce", "dairy"]', 'zone = "dairy"\nsequence = ["produce", "dairy"]'):
        with pytest.raises(CampaignsError) as e:
            load_campaigns(write(tmp_path, f'[[campaign]]\nid = "x"\n{text}\n'), zones=zones)
        assert e.value.problems == [f"{label}: sequence: unknown zone 'dairy' (zones: {', '.join(sorted(zones))})"]
    got = problems(tmp_path, '[[campaign]]\nid = "x"\nsequence = ["outside", "produce"]\n')
    assert got == [f"{label}: sequence: 'outside' is not a store zone (rules never fire on it)"]


def test_outside_and_unknown_are_not_zones(tmp_path: Path) -> None:
    got = problems(tmp_path, '[[campaign]]\nid = "x"\nzone = "unknown"\n')
    assert got == [
        f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): zone: 'unknown' is not a store zone"
        " (rules never fire on it)"
    ]


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("days = []", "days is empty"),
        ('hours = ["09:00-09:00"]', "start equals end"),
        ('days = ["sat"]\nstart_date = 2026-03-02\nend_date = 2026-03-04', "none of days"),
    ],
)
def test_schedule_that_never_matches(tmp_path: Path, schedule: str, reason: str) -> None:
    got = problems(tmp_path, f'[[campaign]]\nid = "x"\nzone = "coffee"\n[campaign.schedule]\n{schedule}\n')
    assert len(got) == 1 and "campaign 'x' (#1): schedule: never matches" in got[0] and reason in got[0]


def test_every_reason_a_schedule_never_matches_is_named_at_once(tmp_path: Path) -> None:
    """start_date after end_date hid the empty days and the empty window: three runs to find three mistakes."""
    schedule = 'days = []\nhours = ["10:00-10:00"]\nstart_date = 2026-05-01\nend_date = 2026-04-01'
    got = problems(tmp_path, f'[[campaign]]\nid = "x"\nzone = "coffee"\n[campaign.schedule]\n{schedule}\n')
    assert got == [
        f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): schedule: never matches (days is empty; every hours "
        "window is empty (start equals end); start_date 2026-05-01 is after end_date 2026-04-01)"
    ]


def test_bad_schedule_values(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        '[[campaign]]\nid = "x"\nzone = "coffee"\n[campaign.schedule]\nhours = ["9-17"]\ndays = ["monday"]\n',
    )
    assert any("schedule.hours" in g and "HH:MM-HH:MM" in g for g in got)
    assert any("schedule.days" in g for g in got)
    got = problems(
        tmp_path,
        '[[campaign]]\nid = "x"\nzone = "coffee"\n'
        "[campaign.schedule]\nstart_date = 2026-05-01\nend_date = 2026-04-01\n",
    )
    assert len(got) == 1 and "after end_date" in got[0]


def test_sequence_must_end_in_zone_and_enter_has_no_dwell(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        '[[campaign]]\nid = "s"\nzone = "checkout"\nsequence = ["produce", "dairy"]\n'
        '[[campaign]]\nid = "e"\nzone = "coffee"\non = "enter"\nmin_dwell_s = 10\n',
    )
    # each names the key to change, as docs/campaigns.md promises; they read "(campaign): sequence must end ..."
    assert got[0].endswith(
        "campaign 's' (#1): sequence: must end with the campaign's zone 'checkout' (or leave zone out: it is the last)"
    )
    assert got[1].endswith(
        "campaign 'e' (#2): min_dwell_s: has no meaning for on = 'enter': use on = 'dwell', or leave min_dwell_s out"
    )
    assert not any("(campaign)" in g for g in got)


@pytest.mark.parametrize(("dwell", "shown"), [("600000", "600000"), ("1e308", "1e+308"), ("86400.5", "86400.5")])
def test_a_dwell_no_shopper_reaches_is_an_error_not_a_campaign_that_never_fires(
    tmp_path: Path, dwell: str, shown: str
) -> None:
    """A dwell written in milliseconds (600000 for ten minutes) passed validation and never fired. The value is
    shown as written (it was "600000 s" but "3.6e+06 s" for a cooldown of 3600000)."""
    got = problems(tmp_path, f'[[campaign]]\nid = "x"\nzone = "coffee"\nmin_dwell_s = {dwell}\n')
    assert got == [
        f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): min_dwell_s: {shown} s is over a day (86400 s): "
        "no shopper stays that long, so the campaign could never fire (the value is in seconds)"
    ]


def test_an_empty_segments_list_is_an_error_not_a_campaign_for_nobody(tmp_path: Path) -> None:
    """`segments = []` passed validation and matched no customer: a campaign that could never fire."""
    got = problems(tmp_path, '[[campaign]]\nid = "x"\nzone = "coffee"\nsegments = []\n')
    assert got == [
        f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): segments: an empty list matches no customer; leave "
        "'segments' out for everyone"
    ]


def test_unknown_segment_is_a_warning(tmp_path: Path) -> None:
    text = '[[campaign]]\nid = "x"\nzone = "coffee"\nsegments = ["gold", "sommelier"]\n'
    _, _, warnings = load_campaigns(write(tmp_path, text), zones=ZONES, segments={"gold"})
    assert warnings == [
        f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): segments: no customer has segment 'sommelier'"
    ]


def test_unreachable_campaign_is_a_warning(tmp_path: Path) -> None:
    text = """
[caps]
max_per_visit = 1
[[campaign]]
id = "big"
zone = "coffee"
min_dwell_s = 10
priority = 5
[[campaign]]
id = "small"
zone = "coffee"
min_dwell_s = 30
segments = ["gold"]
[[campaign]]
id = "fallback"
zone = "bakery"
min_dwell_s = 10
"""
    _, _, warnings = load_campaigns(write(tmp_path, text), zones=ZONES)
    assert len(warnings) == 1 and "campaign 'small' (#2): unreachable: campaign 'big'" in warnings[0]


PRODUCE_PAIR = """
[[campaign]]
id = "hello"
zone = "coffee"
min_dwell_s = 10
[[campaign]]
id = "more"
zone = "coffee"
min_dwell_s = 20
"""


@pytest.mark.parametrize("caps", ["[caps]\nmax_per_visit = 2\nmin_interval_s = 60\n", ""])
def test_a_campaign_held_back_by_the_interval_fires_later_and_is_not_called_unreachable(
    tmp_path: Path, caps: str
) -> None:
    """Two slots a visit, 60 s apart (or the defaults, 600 s): 'more' waits for the interval after 'hello' and then
    fires (a sweep's replay sent it seven times) while `campaigns validate` called it unreachable."""
    _, _, warnings = load_campaigns(write(tmp_path, caps + PRODUCE_PAIR), zones=ZONES)
    assert not any("unreachable" in w for w in warnings)


def test_campaigns_that_fill_every_slot_of_a_visit_first_make_the_next_unreachable(tmp_path: Path) -> None:
    """Two slots, no interval: 'hello' (10 s) and 'short' (20 s) always complete before 'long' (90 s), whatever the
    file order; the sweep's replay never sent 'long', and nothing warned of it."""
    text = """
[caps]
max_per_visit = 2
min_interval_s = 0
[[campaign]]
id = "hello"
zone = "coffee"
min_dwell_s = 10
[[campaign]]
id = "long"
zone = "coffee"
min_dwell_s = 90
[[campaign]]
id = "short"
zone = "coffee"
min_dwell_s = 20
"""
    _, _, warnings = load_campaigns(write(tmp_path, text), zones=ZONES)
    assert len(warnings) == 1
    assert "campaign 'long' (#2): unreachable: campaigns 'hello', 'short'" in warnings[0]
    assert "2 slots a visit allows" in warnings[0]
    # with an interval, 'long' (here 50 s) completes while 'short' is held back, and goes first when it lifts
    spaced = text.replace("min_interval_s = 0", "min_interval_s = 60").replace("90", "50")
    _, _, warnings = load_campaigns(write(tmp_path, spaced), zones=ZONES)
    assert warnings == []


@pytest.mark.parametrize(
    ("caps", "dwells"),
    [
        ({"max_per_visit": 2, "min_interval_s": 0}, (10, 90, 20)),
        ({"max_per_visit": 2, "min_interval_s": 60}, (10, 50, 20)),
        ({"max_per_visit": 2, "min_interval_s": 60}, (10, 20)),
        ({"max_per_visit": 1, "min_interval_s": 0}, (10, 20)),
        ({"max_per_visit": 2, "min_interval_s": 600}, (30, 10)),
        ({"max_per_visit": 3, "min_interval_s": 0}, (5, 5, 5, 5)),
        # exit rules all complete as the customer leaves: the dwell does not order them, the file does (c0 fires;
        # c1 would on a stay of 10-20 s)
        ({"max_per_visit": 1, "min_interval_s": 0, "on": "exit"}, (20, 10)),
    ],
)
def test_a_campaign_called_unreachable_never_fires_on_a_long_stay(
    caps: dict[str, object], dwells: tuple[int, ...]
) -> None:
    from gateway.campaigns import Campaign, Caps
    from gateway.campaigns.model import shadowed
    from tests.campaigns.campaign_script import Harness, leg, make_engine, triggers

    on = str(caps.pop("on", "dwell"))
    rows = [{"id": f"c{i}", "zone": "coffee", "min_dwell_s": d, "on": on} for i, d in enumerate(dwells)]
    warned = {b.id for b, _ in shadowed([Campaign.model_validate(r) for r in rows], Caps.model_validate(caps))}
    engine: Harness = make_engine(rows, caps={**caps, "max_per_day": None})
    stay = leg("coffee", 0, 1800) + leg("produce", 1801, 1900)  # then elsewhere: the exit rules complete
    fired = {t.campaign_id for t in triggers(engine.feed("cust-1", stay))}
    unfired = {r["id"] for r in rows} - fired
    assert warned <= unfired  # never a warning on a campaign that fires
    if caps["min_interval_s"] == 0 and on == "dwell":  # without the interval's hold-ups the rule is exact
        assert warned == unfired


def test_fallback_offer_behind_a_cooldown_is_not_reported(tmp_path: Path) -> None:
    text = """
[caps]
max_per_visit = 1
[[campaign]]
id = "big"
zone = "coffee"
priority = 5
cooldown_s = 86400
[[campaign]]
id = "small"
zone = "coffee"
"""
    assert load_campaigns(write(tmp_path, text), zones=ZONES).warnings == []


def test_ended_schedule_is_a_warning(tmp_path: Path) -> None:
    text = '[[campaign]]\nid = "x"\nzone = "coffee"\n[campaign.schedule]\nend_date = 2026-01-31\n'
    _, _, warnings = load_campaigns(write(tmp_path, text), zones=ZONES, today=date(2026, 2, 1))
    assert len(warnings) == 1 and "ended on 2026-01-31" in warnings[0]


def test_file_level_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, "[[campaign]\n")[0].startswith(f"{tmp_path / 'campaigns.toml'}: invalid TOML")
    assert problems(tmp_path, "[caps]\nmax_per_visit = -1\n") == [
        f"{tmp_path / 'campaigns.toml'}: caps.max_per_visit: must be 0 or more, not -1"
    ]
    with pytest.raises(CampaignsError) as e:
        load_campaigns(tmp_path / "missing.toml")
    assert e.value.problems == [f"{tmp_path / 'missing.toml'}: file not found"]


def test_zones_not_checked_when_unknown(tmp_path: Path) -> None:
    campaigns, _, _ = load_campaigns(write(tmp_path, '[[campaign]]\nid = "x"\nzone = "anything"\n'))
    assert campaigns[0].zone == "anything"


def test_docs_cover_every_key_and_command() -> None:
    from gateway.campaigns.model import Campaign, Caps, PresenceSettings
    from gateway.campaigns.schedule import Schedule
    from gateway.cli_campaigns import campaigns_app

    text = DOCS.read_text(encoding="utf-8")
    keys = [*Campaign.model_fields, *Schedule.model_fields, *PresenceSettings.model_fields, *Caps.model_fields]
    missing = [k for k in keys if f"`{k}`" not in text and f"\n{k} =" not in text]
    assert missing == []
    commands = [c.name or (c.callback.__name__ if c.callback else "") for c in campaigns_app.registered_commands]
    assert all(f"campaigns {c}" in text for c in commands), commands


@pytest.mark.parametrize(("value", "days"), [("7776000", 90), ("31536000", 365), ("3600000", 42)])
def test_a_cooldown_of_a_quarter_or_a_year_is_taken_with_a_warning(tmp_path: Path, value: str, days: int) -> None:
    """Once a quarter or once a year is a marketer's rule: a cooldown over 31 days refused the whole file (the
    daemon would not start). It is named instead, which still catches an hour written in milliseconds."""
    path = tmp_path / "campaigns.toml"
    path.write_text(f'[[campaign]]\nid = "x"\nzone = "coffee"\ncooldown_s = {value}\n')
    loaded = load_campaigns(path, zones={"coffee"})
    assert loaded.campaigns[0].cooldown_s == float(value)
    assert [w for w in loaded.warnings if f"cooldown_s: {value} s is {days} days" in w and "milliseconds" in w]


@pytest.mark.parametrize(
    ("table", "key", "value", "words"),
    [
        # an hour typed in milliseconds, and a value no clock reaches: both passed validation
        ("campaign", "cooldown_s", "36000000", "cooldown_s: 36000000 s is over a year (31622400 s)"),
        ("campaign", "cooldown_s", "1e308", "cooldown_s: 1e+308 s is over a year (31622400 s)"),
        ("caps", "min_interval_s", "3600000", "caps.min_interval_s: 3600000 s is over 31 days (2678400 s)"),
        ("campaign", "budget_per_day", "9223372036854775807", "budget_per_day: 9223372036854775807 is over"),
        ("caps", "max_per_day", "1000000", "caps.max_per_day: 1000000 is over"),
        ("caps", "max_per_visit", "1000000", "caps.max_per_visit: 1000000 is over"),
    ],
)
def test_a_cooldown_or_cap_beyond_any_plausible_value_is_an_error(
    tmp_path: Path, table: str, key: str, value: str, words: str
) -> None:
    campaign = '[[campaign]]\nid = "x"\nzone = "coffee"\n'
    text = campaign + f"{key} = {value}\n" if table == "campaign" else f"[caps]\n{key} = {value}\n" + campaign
    got = problems(tmp_path, text)
    assert len(got) == 1 and words in got[0], got
    where = (
        f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): "
        if table == "campaign"
        else f"{tmp_path / 'campaigns.toml'}: "
    )
    assert got[0].startswith(where), got


def test_a_month_long_cooldown_and_large_caps_are_accepted(tmp_path: Path) -> None:
    text = (
        "[caps]\nmax_per_visit = 1000\nmax_per_day = 1000\nmin_interval_s = 2678400\n"
        '[[campaign]]\nid = "x"\nzone = "coffee"\ncooldown_s = 2678400\nbudget_per_day = 1000000\n'
    )
    campaigns, caps, _ = load_campaigns(write(tmp_path, text), zones=ZONES)
    assert campaigns[0].cooldown_s == 2678400 and caps.max_per_day == 1000


@pytest.mark.parametrize(
    ("hours", "words"),
    [
        (
            "02:30-04:00",
            "starts at 02:30, a time the clocks skip on 2027-03-28 (Europe/Berlin: 02:00 jumps to 03:00): "
            "that day it starts at 03:00",
        ),
        (
            "01:00-02:30",
            "ends at 02:30, a time the clocks skip on 2027-03-28 (Europe/Berlin: 02:00 jumps to 03:00): "
            "that day it ends when the clocks jump",
        ),
        ("22:00-02:30", "ends at 02:30, a time the clocks skip on 2027-03-28"),
        (
            "02:00-03:00",
            "lies in the time the clocks skip on 2027-03-28 (Europe/Berlin: 02:00 jumps to 03:00): "
            "it does not run that day",
        ),
        ("02:15-02:45", "does not run that day"),
    ],
)
def test_a_window_in_the_spring_forward_gap_is_a_warning_saying_what_runs(
    tmp_path: Path, hours: str, words: str
) -> None:
    """A window that starts or ends at a local time that does not exist on the day the clocks go forward passed
    silently; the rules engine starts it when the clocks jump, ends it when they jump, or skips it that day."""
    from zoneinfo import ZoneInfo

    text = f'[[campaign]]\nid = "night"\nzone = "coffee"\n[campaign.schedule]\nhours = ["{hours}"]\n'
    _, _, warnings = load_campaigns(
        write(tmp_path, text), zones=ZONES, today=date(2026, 11, 1), tz=ZoneInfo("Europe/Berlin")
    )
    skipped = [w for w in warnings if "the clocks skip" in w]  # Berlin repeats the same hour in October
    assert len(skipped) == 1, warnings
    assert skipped[0].startswith(f"{tmp_path / 'campaigns.toml'}:1: campaign 'night' (#1): schedule.hours: '{hours}' ")
    assert words in skipped[0]


@pytest.mark.parametrize(
    ("hours", "words"),
    [
        (
            "02:30-04:00",
            "starts at 02:30, a time the clocks repeat on 2027-10-31 (Europe/Berlin: 03:00 goes back to 02:00): "
            "that day it starts at the first 02:30, stops when the clocks go back and starts again at the second",
        ),
        (
            "01:00-02:30",
            "ends at 02:30, a time the clocks repeat on 2027-10-31 (Europe/Berlin: 03:00 goes back to 02:00): that day "
            "it ends at the first 02:30 and runs again from 02:00, when the clocks go back, to the second",
        ),
        ("22:00-02:30", "ends at 02:30, a time the clocks repeat on 2027-10-31"),
        (
            "02:15-02:45",
            "lies in the time the clocks repeat on 2027-10-31 (Europe/Berlin: 03:00 goes back to 02:00): it runs "
            "twice that day",
        ),
        ("02:00-02:30", "it runs twice that day"),
    ],
)
def test_a_window_in_the_fall_back_hour_is_a_warning_saying_what_runs(tmp_path: Path, hours: str, words: str) -> None:
    """A window that starts or ends at a local time the clocks go through twice when they go back passed silently;
    the rules read the shop clock, so it runs twice, or stops at the change and starts again."""
    from zoneinfo import ZoneInfo

    # from after the spring change of 2027 to before the next: only the autumn one lies between
    schedule = f'[campaign.schedule]\nhours = ["{hours}"]\nend_date = 2027-12-31\n'
    text = f'[[campaign]]\nid = "night"\nzone = "coffee"\n{schedule}'
    _, _, warnings = load_campaigns(
        write(tmp_path, text), zones=ZONES, today=date(2027, 4, 1), tz=ZoneInfo("Europe/Berlin")
    )
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"{tmp_path / 'campaigns.toml'}:1: campaign 'night' (#1): schedule.hours: '{hours}' ")
    assert words in warnings[0]


@pytest.mark.parametrize(
    ("schedule", "tz"),
    [
        ('hours = ["02:30-04:00"]', "UTC"),  # no clock change
        # runs on through the repeated hour, an hour longer: no surprise
        ('hours = ["02:00-03:00"]\nstart_date = 2027-04-01\nend_date = 2027-12-31', "Europe/Berlin"),
        ('hours = ["03:00-04:00"]', "Europe/Berlin"),  # 03:00 exists
        ('hours = ["01:00-02:00"]', "Europe/Berlin"),  # ends as the gap opens: exclusive end, nothing lost
        ('hours = ["02:30-04:00"]\ndays = ["mon"]', "Europe/Berlin"),  # the clocks go forward on a Sunday
        ('hours = ["02:30-04:00"]\nstart_date = 2027-04-01\nend_date = 2027-10-01', "Europe/Berlin"),
    ],
)
def test_windows_the_clock_change_does_not_touch_are_not_warned_about(tmp_path: Path, schedule: str, tz: str) -> None:
    from zoneinfo import ZoneInfo

    text = f'[[campaign]]\nid = "night"\nzone = "coffee"\n[campaign.schedule]\n{schedule}\n'
    _, _, warnings = load_campaigns(write(tmp_path, text), zones=ZONES, today=date(2026, 11, 1), tz=ZoneInfo(tz))
    assert warnings == []


@pytest.mark.parametrize("key", ["gap_tolerance_s", "unknown_tolerance_s", "settle_s", "visit_timeout_s"])
def test_a_presence_setting_over_a_day_is_an_error(tmp_path: Path, key: str) -> None:
    """`settle_s = 1e308` (or 5000 ms typed as 5000000) passed validation; a replay of a simulated day then sent no
    presence event at all, and no `enter` campaign could fire."""
    got = problems(tmp_path, f'[presence]\n{key} = 5000000\n[[campaign]]\nid = "x"\nzone = "coffee"\n')
    assert got == [
        f"{tmp_path / 'campaigns.toml'}: presence.{key}: 5000000 s is over a day (86400 s): the value is in seconds"
    ]


@pytest.mark.parametrize(("priority", "shown"), [("1e300", "1e+300"), ("1" + "0" * 30, "1e+30"), ("-1001", "-1001")])
def test_a_priority_beyond_any_plausible_order_is_an_error(tmp_path: Path, priority: str, shown: str) -> None:
    """10**30 was taken and copied into every trigger; 1e300 was refused as "exceeded maximum size"."""
    got = problems(tmp_path, f'[[campaign]]\nid = "x"\nzone = "coffee"\npriority = {priority}\n')
    assert got == [
        f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): priority: {shown} is outside -1,000..1,000: it only "
        "orders the campaigns that complete at once"
    ]


def test_priorities_within_the_bound_are_accepted(tmp_path: Path) -> None:
    text = '[[campaign]]\nid = "x"\nzone = "coffee"\npriority = 1000\n[[campaign]]\nid = "y"\nzone = "dairy"\n'
    loaded = load_campaigns(write(tmp_path, text + "priority = -1000\n"), zones=ZONES)
    assert [c.priority for c in loaded.campaigns] == [1000, -1000]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('segments = [""]', "segments: an empty segment name is no customer's segment"),
        ('segments = ["coffee", " "]', "segments: an empty segment name is no customer's segment"),
        ('segments_all = ["gold "]', "segments_all: 'gold ' has spaces at either end, which no customer's segment "),
        ('segments_none = [""]', "segments_none: an empty segment name is no customer's segment"),
    ],
)
def test_a_segment_name_no_customer_can_have_is_an_error(tmp_path: Path, line: str, words: str) -> None:
    """`segments = [""]` passed validation: the importer refuses a blank segment and strips the others, so the
    campaign's audience was nobody (or, in segments_none, excluded nobody)."""
    got = problems(tmp_path, f'[[campaign]]\nid = "x"\nzone = "coffee"\n{line}\n')
    assert len(got) == 1 and got[0].startswith(f"{tmp_path / 'campaigns.toml'}:1: campaign 'x' (#1): {words}"), got


def test_a_header_with_a_comment_is_still_the_line_a_problem_points_at(tmp_path: Path) -> None:
    """`[[campaign]]  # weekend offer` was not counted as a header, so campaign #1's problem pointed at #2's line."""
    text = '[[campaign]]  # weekend offer\nid = "a"\nzone = "narnia"\n\n[[campaign]]\nid = "b"\nzone = "coffee"\n'
    (got,) = problems(tmp_path, text)
    assert got.startswith(f"{tmp_path / 'campaigns.toml'}:1: campaign 'a' (#1): zone: unknown zone 'narnia'")


def test_a_campaign_key_written_below_its_schedule_is_said_to_be_there(tmp_path: Path) -> None:
    text = '[[campaign]]\nid = "x"\nzone = "coffee"\n[campaign.schedule]\ndays = ["mon"]\nmin_dwell_s = 30\n'
    (got,) = problems(tmp_path, text)
    assert "schedule.min_dwell_s: unknown key: 'min_dwell_s' is written after the [campaign.schedule] header" in got


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ('"yes"', '"yes" is not true or false (write true or false, without quotes)'),
        ('"false"', '"false" is not true or false (write true or false, without quotes)'),
        ("0", "0 is not true or false (write true or false)"),
    ],
)
def test_a_switch_takes_only_true_or_false(tmp_path: Path, written: str, shown: str) -> None:
    """`enabled = "yes"` was read as true, `"false"` and `0` as false: a marketer who wrote "no" meaning off got a
    running campaign, and `validate` said ok."""
    text = f'[[campaign]]\nid = "a"\nzone = "coffee"\nenabled = {written}\n'
    with pytest.raises(CampaignsError) as e:
        load_campaigns(write(tmp_path, text), zones=ZONES)
    assert e.value.problems == [f"{tmp_path / 'campaigns.toml'}:1: campaign 'a' (#1): enabled: {shown}"]


def test_a_list_written_as_one_value_is_named_in_a_marketers_words(tmp_path: Path) -> None:
    """`segments = "bakery-fan"` said "Input should be a valid tuple"."""
    text = '[[campaign]]\nid = "a"\nzone = "coffee"\nsegments = "bakery-fan"\n[campaign.schedule]\nhours = 9\n'
    with pytest.raises(CampaignsError) as e:
        load_campaigns(write(tmp_path, text), zones=ZONES)
    head = f"{tmp_path / 'campaigns.toml'}:1: campaign 'a' (#1): "
    assert e.value.problems == [
        head + 'segments: "bakery-fan" is not a list: write it in brackets, ["bakery-fan"]',
        head + "schedule.hours: 9 is not a list: write it in brackets, [9]",
    ]


def test_a_zone_typed_with_a_combining_accent_is_the_store_zone(tmp_path: Path) -> None:
    """'Café' typed on a Mac (e + U+0301) was an unknown zone listed beside the identical-looking 'Café'."""
    import unicodedata

    text = f'[[campaign]]\nid = "a"\nzone = "{unicodedata.normalize("NFD", "Café")}"\n'
    campaigns, _, warnings = load_campaigns(write(tmp_path, text), zones={"Café", "bakery"})
    assert campaigns[0].zone == "Café" and warnings == []
