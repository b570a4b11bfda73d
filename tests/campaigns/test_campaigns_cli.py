"""`campaigns validate` / `campaigns list` as store staff use them: exit codes, one line per problem, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli_campaigns import campaigns_app
from gateway.config import load_gateway_config

runner = CliRunner()

GOOD = """
[[campaign]]
id = "coffee-10"
zone = "coffee"
min_dwell_s = 30
segments = ["coffee"]
offer = "COFFEE10"

[[campaign]]
id = "breakfast"
zone = "bakery"
on = "enter"
[campaign.schedule]
hours = ["07:00-10:30"]
"""


def config_dir(tmp_path: Path, campaigns: str = GOOD, zones: list[str] | None = None, tz: str = "UTC") -> Path:
    d = tmp_path / "config"
    d.mkdir()
    (d / "campaigns.toml").write_text(campaigns, encoding="utf-8")
    names = ", ".join(f'"{z}"' for z in (zones if zones is not None else ["coffee", "bakery"]))
    (d / "zones.toml").write_text(f"zones = [{names}]\n", encoding="utf-8")
    (d / "gateway.toml").write_text(
        f'store_id = "s"\ngateway_id = "g"\ntimezone = "{tz}"\ncustomers_file = "customers.jsonl"\n', encoding="utf-8"
    )
    rows = [{"customer_id": "c1", "consent": True, "segments": ["coffee"], "identifiers": []}]
    (d / "customers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return d


def test_validate_ok(tmp_path: Path) -> None:
    d = config_dir(tmp_path)
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0, r.output
    assert "2 campaigns ok; " in r.stdout and "; zone names checked" in r.stdout and r.stderr == ""


def test_validate_says_which_caps_bind_when_the_file_names_none(tmp_path: Path) -> None:
    """Without a [caps] table the defaults hold (at most 2 coupons a visit, 600 s apart): nothing said so, and a
    file written from SPEC's keys alone lost half the coupons its rules call for without a word (a review sweep)."""
    d = config_dir(tmp_path)
    assert "[caps]" not in (d / "campaigns.toml").read_text()
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert "coupons per customer: at most 2 a visit, 600 s apart (the defaults; [caps] changes them)" in r.stdout
    (d / "campaigns.toml").write_text("[caps]\nmax_per_visit = 5\nmin_interval_s = 0\n" + GOOD)
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert "coupons per customer: at most 5 a visit;" in r.stdout and "defaults" not in r.stdout


def test_validate_says_when_segments_could_not_be_checked(tmp_path: Path) -> None:
    """Without a registry or a customers_file (a marketer's copy of the config, or a registry only the service can
    read) a segment no customer has passed without a word, as if it had been checked."""
    d = config_dir(tmp_path, GOOD.replace('segments = ["coffee"]', 'segments = ["sommelier"]'))
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0 and "segments: no customer has segment 'sommelier'" in r.stderr
    assert r.stdout.strip().endswith("zone names checked; segments checked")
    gw = d / "gateway.toml"
    gw.write_text(gw.read_text().replace('customers_file = "customers.jsonl"\n', ""))
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0 and r.stderr == ""
    registry = d / "state" / "registry.db"
    assert f"segments not checked (no consent registry readable at {registry}, and no customers_file)" in " ".join(
        r.stdout.split()
    )
    # a customers_file that is not there is not "no customers_file" (config check calls it an error)
    gw.write_text(gw.read_text() + 'customers_file = "../gone.jsonl"\n')
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    shown = " ".join(r.stdout.split())
    assert f"and customers_file {d / '..' / 'gone.jsonl'} not found)" in shown, shown


def test_validate_finds_the_registry_where_the_environment_puts_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon takes PROXIMITY_STATE_DIR over gateway.toml's state_dir; validate looked in the file's only, so
    a sommelier segment that the registry holds was 'not checked' (or a missing one let pass)."""
    from gateway.identity.registry import Registry

    d = config_dir(tmp_path, GOOD.replace('segments = ["coffee"]', 'segments = ["sommelier"]'))
    gw = d / "gateway.toml"
    gw.write_text(gw.read_text().replace('customers_file = "customers.jsonl"\n', ""))
    people = tmp_path / "people.jsonl"
    people.write_text(json.dumps({"customer_id": "c9", "consent": True, "segments": ["sommelier"], "identifiers": []}))
    state = tmp_path / "elsewhere"
    state.mkdir()
    with Registry(state / "registry.db") as reg:
        reg.import_file(people)
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(state))
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0 and r.stderr == "", r.output
    assert r.stdout.strip().endswith("segments checked")


def test_validate_reports_each_problem_on_one_line(tmp_path: Path) -> None:
    bad = '[[campaign]]\nid = "a"\nzone = "cofee"\n[[campaign]]\nid = "b"\nzone = "coffee"\nmin_dwell_s = -5\n'
    d = config_dir(tmp_path, bad)
    r = runner.invoke(campaigns_app, ["validate", str(d / "campaigns.toml"), "--config", str(d)])
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: {d / 'campaigns.toml'}:1: campaign 'a' (#1): ")
    assert lines[1].startswith(f"error: {d / 'campaigns.toml'}:4: campaign 'b' (#2): min_dwell_s: ")
    assert "zone: unknown zone 'cofee'" in lines[0]
    assert "Traceback" not in r.output


def test_validate_warns_on_unknown_segment_but_succeeds(tmp_path: Path) -> None:
    d = config_dir(tmp_path, GOOD.replace('segments = ["coffee"]', 'segments = ["cofee"]'))
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0
    assert "warning:" in r.stderr and "segments: no customer has segment 'cofee'" in r.stderr


def test_validate_missing_file_and_usage_error(tmp_path: Path) -> None:
    r = runner.invoke(campaigns_app, ["validate", str(tmp_path / "nope.toml"), "--config", str(tmp_path)])
    assert r.exit_code == 1 and "nope.toml: file not found" in r.stderr
    assert runner.invoke(campaigns_app, ["validate", "--bogus"]).exit_code == 2


def test_validate_without_zones_file_says_zones_were_not_checked(tmp_path: Path) -> None:
    d = config_dir(tmp_path)
    (d / "zones.toml").unlink()
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0 and f"zone names not checked ({d / 'zones.toml'}: not found)" in r.stdout
    (d / "zones.toml").write_text("zones = [unquoted]\n")  # there, but broken: said "no zones.toml"
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert "unreadable, or without a 'zones' list" in r.stdout


def test_toml_files_saved_with_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    """Windows editors write one; campaigns.toml then failed with 'invalid TOML ... line 1, column 1'."""
    d = config_dir(tmp_path)
    for name in ("campaigns.toml", "gateway.toml", "zones.toml"):
        (d / name).write_bytes(b"\xef\xbb\xbf" + (d / name).read_bytes())
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0, r.output
    assert "zone names checked" in r.stdout
    assert load_gateway_config(d).store_id == "s"


def test_list_shows_what_is_active_at_a_store_local_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table; a narrow terminal gets a block per campaign (below)
    d = config_dir(tmp_path, tz="Europe/Berlin")
    r = runner.invoke(campaigns_app, ["list", "--config", str(d), "--at", "2026-03-29T08:00"])
    assert r.exit_code == 0, r.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in r.stdout.splitlines() if "│" in line}
    assert rows["coffee-10"] == "yes" and rows["breakfast"] == "yes"
    # the caps in words, as `validate` says them: "max_per_day=None" read as a setting
    assert "coupons per customer: at most 2 a visit, 600 s apart (the defaults; [caps] changes them)" in r.stdout
    assert "None" not in r.stdout
    r = runner.invoke(campaigns_app, ["list", "--config", str(d), "--at", "2026-03-29T10:30"])
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in r.stdout.splitlines() if "│" in line}
    assert rows["breakfast"] == "no"
    # 08:00Z is 10:00 in Berlin on that (summer time) day: still breakfast
    r = runner.invoke(campaigns_app, ["list", "--config", str(d), "--at", "2026-03-29T08:00+00:00"])
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in r.stdout.splitlines() if "│" in line}
    assert rows["breakfast"] == "yes"


@pytest.mark.parametrize("columns", [80, 200])
def test_list_shows_every_cell_whole_in_any_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    """At 80 columns (and at 120) the schedule, audience and offer of docs/campaigns.md's example were cut to
    `mon,tue,w…`, `07:00-10:…`, `coffee,loy…`, `NEXT-VISIT…`: what a marketer checks was not there to read.
    Folding the cells instead broke words (`dwel` / `l`) and still cut the numbers; a terminal too narrow for
    the table gets a block per campaign."""
    monkeypatch.setenv("COLUMNS", str(columns))
    campaign = """
[[campaign]]
id = "checkout-thanks"
zone = "coffee"
on = "exit"
segments_all = ["loyalty-gold", "newsletter"]
offer = "NEXT-VISIT-5"
[campaign.schedule]
days = ["mon", "tue", "wed", "thu", "fri"]
hours = ["07:00-10:30"]
start_date = 2026-01-05
end_date = 2026-03-31
"""
    d = config_dir(tmp_path, campaign)
    r = runner.invoke(campaigns_app, ["list", "--config", str(d), "--at", "2026-03-02T09:30"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "…" not in r.stdout and max(map(len, lines)) <= columns
    schedule = "mon, tue, wed, thu, fri; 07:00-10:30; 2026-01-05..2026-03-31"
    if columns == 80:
        fields = dict(line.split(maxsplit=1) for line in lines if line.startswith("  "))
        assert fields["audience"] == "all loyalty-gold, newsletter"
        assert fields["schedule"] == schedule
        assert fields["offer"] == "NEXT-VISIT-5" and fields["rule"] == "exit coffee 0s"
    else:
        cells: dict[int, list[str]] = {}
        for line in lines:
            if line.startswith("│"):
                for i, cell in enumerate(line.split("│")[1:-1]):
                    if cell.strip():
                        cells.setdefault(i, []).append(cell.strip())
        assert cells[3] == ["all loyalty-gold, newsletter"]
        assert "; ".join(cells[4]) == schedule
        assert cells[8] == ["NEXT-VISIT-5"]


def test_config_is_also_dash_c(tmp_path: Path) -> None:
    """Every other command takes `-c DIR`; `campaigns validate -c DIR` was `no such option: -c`, exit 2."""
    d = config_dir(tmp_path)
    assert runner.invoke(campaigns_app, ["validate", "-c", str(d)]).exit_code == 0
    assert runner.invoke(campaigns_app, ["list", "-c", str(d)]).exit_code == 0


def test_list_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    d = config_dir(tmp_path)
    r = runner.invoke(campaigns_app, ["list", "--config", str(d), "--at", "tomorrow"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_unknown_store_time_zone_is_one_line_naming_gateway_toml(tmp_path: Path) -> None:
    d = config_dir(tmp_path, tz="Mars/Olympus")
    for args in (["validate", "--config", str(d)], ["list", "--config", str(d)]):
        r = runner.invoke(campaigns_app, args)
        assert r.exit_code == 1
        assert r.stderr.strip() == f"error: {d / 'gateway.toml'}: timezone: unknown time zone 'Mars/Olympus'"


def test_validate_warns_about_a_window_the_clock_changes_cut(tmp_path: Path) -> None:
    """Read in the store's time zone from gateway.toml: every year Europe/Berlin skips 02:00-03:00 in spring and
    goes through it twice in autumn; the autumn one passed silently."""
    night = '[[campaign]]\nid = "night"\nzone = "coffee"\n[campaign.schedule]\nhours = ["02:30-04:00"]\n'
    d = config_dir(tmp_path, night, tz="Europe/Berlin")
    r = runner.invoke(campaigns_app, ["validate", "--config", str(d)])
    assert r.exit_code == 0, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert all(line.startswith(f"warning: {d / 'campaigns.toml'}:1: campaign 'night' (#1): ") for line in lines)
    assert "schedule.hours: '02:30-04:00' starts at 02:30" in lines[0] and "that day it starts at 03:00" in lines[0]
    assert "schedule.hours: '02:30-04:00' starts at 02:30, a time the clocks repeat on " in lines[1]
    assert "(Europe/Berlin: 03:00 goes back to 02:00)" in lines[1] and "starts again at the second" in lines[1]
    (tmp_path / "utc").mkdir()
    assert runner.invoke(campaigns_app, ["validate", "--config", str(config_dir(tmp_path / "utc", night))]).stderr == ""


def test_a_file_of_another_store_is_checked_against_its_own_zones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`campaigns validate ../pharmacy/config/campaigns.toml` run beside another store's ./config checked the
    pharmacy's zones against that store's, and refused a valid file."""
    here = tmp_path / "here"
    here.mkdir()
    config_dir(here, zones=["produce"])  # ./config of the store the shell happens to be in
    pharmacy = tmp_path / "pharmacy"
    pharmacy.mkdir()
    other = config_dir(pharmacy)  # coffee and bakery
    monkeypatch.chdir(here)
    r = runner.invoke(campaigns_app, ["validate", str(other / "campaigns.toml")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(campaigns_app, ["validate", str(other / "campaigns.toml"), "--config", "config"])
    assert r.exit_code == 1 and "unknown zone 'coffee'" in r.output  # asked for: ./config's zones


def test_a_failed_validate_without_zones_says_the_zone_names_were_not_checked(tmp_path: Path) -> None:
    """Run from a directory without config/: 'Bakery' and 'dairy' passed in silence beside the one error, while the
    same file without that error said "zone names not checked"."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    f = d / "campaigns.toml"
    f.write_text('[[campaign]]\nid = "a"\nzone = "Bakery"\n[[campaign]]\nid = "b"\nzone = "unknown"\n')
    r = runner.invoke(campaigns_app, ["validate", str(f), "--config", str(d)])
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"error: {f}:4: campaign 'b' (#2): zone: 'unknown' is not a store zone")
    assert lines[1] == f"note: {f}: zone names not checked ({d / 'zones.toml'}: not found)"
