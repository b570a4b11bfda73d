"""benchmarks/realism.py: the statistics it prints next to the public data set, and its CLI on bad input."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "realism.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realism", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["realism"] = module  # dataclasses look their module up while the class body runs
    spec.loader.exec_module(module)
    return module


realism = _load()

CSV = """location,date,b3001,b3002
K04,10-18-2016 11:15:25,-200,-70
K04,10-18-2016 11:15:21,-75,-72
K04,10-18-2016 11:15:19,-200,-74
"""


def test_public_csv_rows_come_out_oldest_first_with_not_heard_as_missing() -> None:
    data = realism.parse_public(io.StringIO(CSV))
    assert data.beacons == ["b3001", "b3002"]
    assert list(np.diff(data.t)) == [2.0, 4.0]
    assert data.rssi[:, 1].tolist() == [-74.0, -72.0, -70.0]
    assert np.isnan(data.rssi[0, 0]) and data.rssi[1, 0] == -75.0


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("location,date\nK04,10-18-2016 11:15:25\n", "x.csv:1:"),
        ("location,date,b3001\nK04,yesterday,-70\n", "x.csv:2: field 'date'"),
        ("location,date,b3001\nK04,10-18-2016 11:15:25,loud\n", "x.csv:2: field 'b3001'"),
    ],
)
def test_bad_public_csv_is_one_line_naming_line_and_field(text: str, where: str) -> None:
    with pytest.raises(ValueError) as e:
        realism.parse_public(io.StringIO(text), "x.csv")
    assert str(e.value).startswith(where) and "\n" not in str(e.value)


def test_pauses_between_walks_are_not_listening_time() -> None:
    walk = np.arange(0.0, 20.0, 2.0)  # 10 rows, 2 s apart: 20 s of listening
    two_walks = np.concatenate([walk, walk + 3600.0])
    assert realism.listening_time_s(walk) == pytest.approx(20.0)
    assert realism.listening_time_s(two_walks) == pytest.approx(40.0)


def test_heard_share_counts_windows_with_any_reading() -> None:
    times = np.array([0.1, 0.5, 4.2, 9.9])  # windows 0, 2, 4 of five 2 s windows
    assert realism.heard_share_per_window(times, 0.0, 10.0) == pytest.approx(0.6)


def test_strongest_reading_of_each_window() -> None:
    times = np.array([0.1, 0.5, 1.9, 4.2, 4.3])
    rssi = np.array([-80.0, -60.0, -90.0, -70.0, -85.0])
    assert sorted(realism.strongest_per_window(times, rssi, 0.0).tolist()) == [-70.0, -60.0]


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=30), st.integers(2, 10))
def test_standing_runs_cover_only_samples_at_one_spot(steps: list[float], hold: int) -> None:
    x = np.repeat(np.cumsum(np.abs(steps) + 0.5), hold)  # each spot held for `hold` samples, spots >= 0.5 m apart
    y = np.zeros_like(x)
    runs = realism.standing_runs(x, y)
    assert len(runs) == len(steps)
    assert all(e - s == hold and np.ptp(x[s:e]) == 0 for s, e in runs)


def test_spread_needs_enough_readings_and_uses_sample_std() -> None:
    groups = {("a", "1"): [-70.0, -72.0, -74.0], ("b", "1"): [-60.0]}
    assert realism.spreads(groups, 2).tolist() == [[-72.0, pytest.approx(2.0)]]


def test_cli_reports_a_missing_data_set_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert realism.main(["--uci", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "none.csv" in err and err.count("\n") == 1


def test_small_day_gets_distances_from_its_rebuilt_calibration_walk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # if generate_day changes the order of its seeded draws, the walk can no longer be rebuilt: this says so
    assert realism.main(["--shoppers", "3", "--duration", "120", "--seed", "7", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "note:" not in out
    assert "RSSI std at a standing point" in out
    png = tmp_path / "realism.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 250_000
