"""A day whose customers read far louder than the calibration walk's device is named by `proximity-sim evaluate`:
the JSON says by how much, and stderr carries one line telling staff to walk again (gateway/zones/level.py)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.evaluate import evaluate_day
from simulator.generate import GenerateResult, generate_day

LOUDER_DB = 8


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    # enough customers' visits for the survey (MIN_DEVICES), a quarter of an hour
    return generate_day(
        tmp_path_factory.mktemp("level"), shoppers=30, duration_s=900, seed=4, progress=False, plot=False
    )


def _louder(scans: Path, out: Path) -> Path:
    """The same day with every advertisement LOUDER_DB louder: as if the walk had been done with a quieter device."""
    with gzip.open(scans, "rt", encoding="utf-8") as f, gzip.open(out, "wt", encoding="utf-8") as g:
        g.write(next(f))
        for line in f:
            adv = json.loads(line)
            adv["rssi"] += LOUDER_DB
            g.write(json.dumps(adv) + "\n")
    return out


def _evaluate(scans: Path, day: GenerateResult) -> tuple[dict[str, object], list[str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "evaluate", "--scans", str(scans), "--truth", str(day.truth),
         "--config", str(day.config_dir), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout), proc.stderr.splitlines()


def test_customers_as_loud_as_the_walks_device_draw_no_warning(day: GenerateResult) -> None:
    problems: list[str] = []
    scores = evaluate_day(day.scans, day.truth, day.config_dir, on_problem=problems.append)
    level = scores["device_level_vs_walk_db"]
    assert isinstance(level, float) and abs(level) < 3.0
    assert scores["device_level_visits"] >= 10
    assert problems == []


def test_customers_much_louder_than_the_walks_device_are_named(day: GenerateResult, tmp_path: Path) -> None:
    as_is, _ = _evaluate(day.scans, day)
    louder, stderr = _evaluate(_louder(day.scans, tmp_path / "louder.jsonl.gz"), day)
    assert isinstance(as_is["device_level_vs_walk_db"], float) and isinstance(louder["device_level_vs_walk_db"], float)
    # the survey follows the shift (not all of it: a quieter reading is partly read as further away)
    assert louder["device_level_vs_walk_db"] - as_is["device_level_vs_walk_db"] > LOUDER_DB / 2
    warnings = [w for w in stderr if "than the calibration walk's device" in w]
    assert len(warnings) == 1, stderr
    assert "dB louder" in warnings[0] and "walk the zones again" in warnings[0]


def test_calibrate_evaluate_names_it_too(day: GenerateResult, tmp_path: Path) -> None:
    louder = _louder(day.scans, tmp_path / "louder.jsonl.gz")
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "calibrate", "evaluate", "--scans", str(louder), "--truth", str(day.truth),
         "--zones", str(day.config_dir / "zones.toml"), "--customers", str(day.customers), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(proc.stdout)
    assert result["device_level_vs_walk_db"] > 3.3 and result["device_level_visits"] >= 10
    assert "device_level_warning" not in result  # said once, on stderr
    lines = [w for w in proc.stderr.splitlines() if "than the calibration walk's device" in w]
    assert len(lines) == 1 and lines[0].startswith(f"warning: {louder}: customers' devices read "), proc.stderr
