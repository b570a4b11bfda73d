"""`proximity-sim` as a user meets it: exit codes, one-line errors, --json output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.generate import GenerateResult

runner = CliRunner()


def test_generate_then_evaluate_json(small_day: GenerateResult, tmp_path: Path) -> None:
    day = tmp_path / "day"
    shutil.copytree(small_day.out_dir, day)  # evaluation must not depend on anything outside the directory
    result = runner.invoke(
        app, ["evaluate", "--scans", str(day / "scans.jsonl.gz"), "--truth", str(day / "truth.jsonl"), "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stdout.splitlines() if x.strip()]
    assert len(lines) == 1
    scores = json.loads(lines[0])
    for key in ("zone_accuracy", "trigger_precision", "trigger_recall"):
        assert 0.0 <= scores[key] <= 1.0
    assert scores["samples"] > 100
    # far better than guessing among the example store's 6 zones + outside
    assert scores["zone_accuracy"] > 0.4
    assert scores["triggers_to_non_consenting"] == 0


def test_evaluate_without_json_prints_a_table(small_day: GenerateResult) -> None:
    result = runner.invoke(app, ["evaluate", "--scans", str(small_day.scans), "--truth", str(small_day.truth)])
    assert result.exit_code == 0
    assert "zone_accuracy" in result.stdout and "trigger_recall" in result.stdout


def test_evaluate_that_scored_nothing_exits_1(small_day: GenerateResult, tmp_path: Path) -> None:
    # an empty truth (or a recording without advertisements) exited 0 with trigger precision and recall 1.0
    empty = tmp_path / "truth.jsonl"
    empty.write_text("")
    args = ["--scans", str(small_day.scans), "--truth", str(empty), "--config", str(small_day.config_dir)]
    result = runner.invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["samples"] == 0  # the scores are still printed
    last = result.stderr.splitlines()[-1]
    assert last == "error: no labelled sample: nothing was scored (the warnings above say why)"


def test_evaluate_names_a_mistyped_recording_not_the_config(small_day: GenerateResult, tmp_path: Path) -> None:
    """Without --config the config is looked for beside the scans: a mistyped --scans read as "config: config
    directory not found"."""
    missing = tmp_path / "nosuch.jsonl.gz"
    result = runner.invoke(app, ["evaluate", "--scans", str(missing), "--truth", str(small_day.truth)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {missing}: no such file"


def test_generate_via_cli_writes_the_day(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["generate", "--out", str(tmp_path), "--shoppers", "2", "--duration", "60", "--seed", "9", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    for name in (
        "scans.jsonl.gz",
        "truth.jsonl",
        "customers.jsonl",
        "calibration.jsonl.gz",
        "calibration-truth.jsonl",
        "config/gateway.toml",
        "config/zones.toml",
        "config/campaigns.toml",
    ):
        assert (tmp_path / name).is_file(), name


def test_bad_store_file_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "store.toml"
    bad.write_text(
        'store_id = "s"\nwidth = 10\nheight = 10\nentrance = [0, 5]\n'
        '[[zone]]\nname = "a"\npolygon = [[0,0],[10,0],[10,10]]\n[[receiver]]\nid = "r"\ny = 1\n'
    )
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "o"), "--store", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert str(bad) in result.stderr and "receiver.0.x" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["generate"], 2),  # --out missing
        (["generate", "--out", "x", "--shoppers", "-1"], 2),
        (["evaluate", "--scans", "/nonexistent.jsonl", "--truth", "/nonexistent-truth.jsonl"], 1),
    ],
)
def test_exit_codes(args: list[str], code: int, tmp_path: Path) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert "Traceback" not in result.output


def test_python_dash_m_simulator_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0 and "generate" in proc.stdout and "evaluate" in proc.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_anywhere_on_the_command_line_shows_the_traceback(tmp_path: Path, where: str) -> None:
    """The README: `--debug` anywhere on the command line shows tracebacks. After the command proximity-sim said
    `error: proximity-sim ceiling: no such option: --debug (see --help)`, exit 2."""
    store = str(tmp_path / "missing.toml")
    args = ["--debug", "ceiling", "--store", store] if where == "before" else ["ceiling", "--store", store, "--debug"]
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr and f"StoreError: {store}: no such store file" in proc.stderr


def test_demo_replays_a_generated_day_into_a_private_broker(small_day: GenerateResult, tmp_path: Path) -> None:
    day = tmp_path / "day"
    shutil.copytree(small_day.out_dir, day)
    result = runner.invoke(app, ["demo", "--dir", str(day)])
    assert result.exit_code == 0, result.output
    assert "triggers" in result.stdout and "still queued" in result.stdout
    assert not (day / "config" / "state").exists()  # the user's directory is read, never written
    campaigns = day / "config" / "campaigns.toml"
    campaigns.write_text(campaigns.read_text() + '\n[[campaign]]\nid = "typo"\nzone = "cofee"\n')
    broken = runner.invoke(app, ["demo", "--dir", str(day)])
    assert broken.exit_code == 1
    assert broken.stderr.startswith(f"error: {campaigns}:")  # the user's file, not a temporary copy


def test_demo_without_a_recording_says_how_to_make_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "proximity-sim generate" in result.stderr


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--shadowing-db", "5", "--body-loss-db", "0"], "radio=shadowing:5dB,body-loss:0dB"),
        # phones further apart in level (the walk's device too): said after the radio's other two figures
        (["--device-offset-db", "8"], "radio=shadowing:4dB,body-loss:9dB,device-offset:8dB"),
    ],
)
def test_generate_under_another_radio_says_so_in_the_files(tmp_path: Path, options: list[str], said: str) -> None:
    """The same seed under another radio is another day: the recordings' headers must say which radio made them,
    and a default day's must not change. The people and their walks stay the same."""
    from gateway.sources.recording import read_recording

    base = ["generate", "--shoppers", "2", "--duration", "60", "--seed", "9", "--quiet"]
    assert runner.invoke(app, [*base, "--out", str(tmp_path / "default")]).exit_code == 0
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "other"), *options])
    assert result.exit_code == 0, result.output
    default_header, default_adverts, _ = read_recording(tmp_path / "default/scans.jsonl.gz")
    other_header, other_adverts, _ = read_recording(tmp_path / "other/scans.jsonl.gz")
    assert "radio" not in default_header.source
    assert said in other_header.source
    assert said in read_recording(tmp_path / "other/calibration.jsonl.gz")[0].source
    assert (tmp_path / "default/truth.jsonl").read_text() == (tmp_path / "other/truth.jsonl").read_text()
    assert [a.rssi for a in default_adverts] != [a.rssi for a in other_adverts]


def test_a_negative_device_offset_spread_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "day"), "--device-offset-db", "-2"])
    assert result.exit_code == 2 and "--device-offset-db" in result.stderr


def test_each_problem_of_a_store_file_is_its_own_error_line(tmp_path: Path) -> None:
    """SPEC section 2: one line per problem. Two misplaced keys came as one line joined with '; '."""
    store = tmp_path / "my-store.toml"
    text = (Path(__file__).resolve().parents[2] / "simulator/stores/corner-shop.toml").read_text()
    store.write_text(text + "facade_loss_db = 12.0\ndoor_width_m = 1.5\n")  # after [[receiver]]: the receiver's
    result = runner.invoke(app, ["generate", "--store", str(store), "--out", str(tmp_path / "day"), "--quiet"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {store}: receiver.0.") for line in lines), lines
    assert "facade_loss_db" in lines[0] and "door_width_m" in lines[1]


def test_a_zone_no_receiver_hears_is_blamed_on_the_store_file(tmp_path: Path) -> None:
    """A layout whose far zone no receiver reaches: the walk there is never heard and the fit refuses it. The
    error said "no labelled samples for zone 'far'" as if a file the user wrote were wrong; it now names the store
    and what to change, and the rest of the day is still on disk."""
    store = tmp_path / "long-shop.toml"
    store.write_text(
        'store_id = "long-1"\nwidth = 60.0\nheight = 4.0\nentrance = [0.0, 2.0]\n\n'
        '[[zone]]\nname = "near"\npolygon = [[0, 0], [30, 0], [30, 4], [0, 4]]\n\n'
        '[[zone]]\nname = "far"\npolygon = [[30, 0], [60, 0], [60, 4], [30, 4]]\n\n'
        # -65 dBm at 1 m falling 34 dB a decade: -115 dBm 30 m away, 25 dB under what it can hear
        '[[receiver]]\nid = "rx-door"\nx = 0.5\ny = 2.0\nrssi_at_1m = -65.0\npath_loss_exponent = 3.4\n'
        "sensitivity_dbm = -90.0\n"
    )
    out = tmp_path / "day"
    args = ["generate", "--store", str(store), "--out", str(out), "--shoppers", "1", "--duration", "60", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: store 'long-1': the simulated calibration walk cannot be fitted")
    assert "'far'" in lines[0] and "[[receiver]]" in lines[0] and str(out) in lines[0]
    assert (out / "scans.jsonl.gz").exists() and (out / "calibration.jsonl.gz").exists()
    assert not (out / "config" / "zones.toml").exists()
