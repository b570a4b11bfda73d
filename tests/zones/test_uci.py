from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.truth import read_truth
from simulator.uci import (
    PHONE_ADDR,
    WALK_GAP_S,
    Row,
    UciError,
    cell_zone,
    convert,
    convert_folds,
    convert_split,
    fold_walks,
    main,
    parse_time,
)

HEADER = "location,date," + ",".join(f"b30{i:02d}" for i in range(1, 14))


def _row(cell: str, date: str, heard: dict[int, int]) -> str:
    return ",".join([cell, date, *(str(heard.get(i, -200)) for i in range(1, 14))])


letters = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@given(letters, st.integers(1, 99), st.integers(0, 3), st.integers(0, 4))
def test_cells_of_one_block_share_a_zone(letter: str, row: int, dc: int, dr: int) -> None:
    z = cell_zone(f"{letter}{row:02d}")
    col0 = (ord(letter) - 65) // 4 * 4
    row0 = (row - 1) // 5 * 5 + 1
    same = f"{chr(65 + min(col0 + dc, 25))}{row0 + dr:02d}"
    assert cell_zone(same) == z
    assert cell_zone(f"{letter.lower()}{row}") == z  # lower case and no zero padding: the same cell


def test_neighbouring_blocks_differ() -> None:
    assert cell_zone("D05") != cell_zone("E05")
    assert cell_zone("J05") != cell_zone("J06")
    assert cell_zone("J04") == "I-L/01-05"


def test_times_with_and_without_seconds() -> None:
    assert parse_time("9-27-2016 12:38:58")[1] == 1.0
    t, res = parse_time("08-04-2016 13:10")
    assert res == 60.0 and t == parse_time("8-4-2016 13:10:00")[0]
    with pytest.raises(ValueError):
        parse_time("2016-09-27 12:38")


def test_convert_sorts_newest_first_rows_and_spreads_equal_stamps(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text(
        "\n".join(
            [
                HEADER,
                _row("J05", "9-27-2016 12:00:10", {3: -70}),
                _row("J04", "9-27-2016 12:00:04", {1: -80, 2: -75}),
                _row("J04", "9-27-2016 12:00:04", {1: -81}),
                _row("I01", "9-27-2016 12:00:00", {}),
            ]
        )
    )
    scans, truth = convert(csv, tmp_path / "out")
    with gzip.open(scans, "rt") as f:
        lines = [json.loads(x) for x in f]
    assert lines[0]["format"] == "proximity-scans"
    adverts = lines[1:]
    assert len(adverts) == 4  # -200 omitted; the empty row gives nothing
    ts = [a["t"] for a in adverts]
    assert ts == sorted(ts)
    assert {a["addr"] for a in adverts} == {PHONE_ADDR}
    # the two rows stamped 12:00:04 keep their file order reversed (older first) and different times
    b3001 = [a for a in adverts if a["rx"] == "b3001"]
    assert [a["rssi"] for a in b3001] == [-81, -80] and b3001[0]["t"] < b3001[1]["t"]
    ivs = read_truth(truth)
    assert [iv.zone for iv in ivs] == ["I-L/01-05"]
    assert ivs[0].t_start <= min(ts) and ivs[0].t_end >= max(ts)


def test_split_keeps_walks_whole_and_later_walks_for_evaluation(tmp_path: Path) -> None:
    rows = [HEADER]
    for day, hour in ((19, 9), (20, 10), (21, 11)):
        for s in range(0, 40, 2):
            rows.append(_row("K03", f"4-{day}-2016 {hour}:00:{s:02d}", {5: -70 - s % 7}))
    (tmp_path / "x.csv").write_text("\n".join(rows))
    parts = convert_split(tmp_path / "x.csv", tmp_path / "o", 0.6)
    fit_truth = read_truth(parts["fit"][1])
    eval_truth = read_truth(parts["evaluate"][1])
    assert max(iv.t_end for iv in fit_truth) < min(iv.t_start for iv in eval_truth)
    assert len(fit_truth) == 2 and len(eval_truth) == 1  # a walk is never cut in two


def test_bad_csv_is_one_line_naming_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.csv").write_text(HEADER + "\n" + _row("J05", "yesterday", {}) + "\n")
    with pytest.raises(UciError, match=r"x.csv:2: field 'date'"):
        convert(tmp_path / "x.csv", tmp_path / "o")
    assert main([str(tmp_path / "x.csv"), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_public_file_converts(tmp_path: Path) -> None:
    src = Path("/work/shared/data/uci-ble-rssi/iBeacon_RSSI_Labeled_until_september.csv")
    if not src.exists():
        pytest.skip("public data set not present")
    parts = convert_split(src, tmp_path, 0.7)
    assert read_truth(parts["fit"][1]) and read_truth(parts["evaluate"][1])


def _walk_rows(sizes: list[int]) -> list[Row]:
    rows, t = [], 0.0
    for size in sizes:
        for _ in range(size):
            rows.append(Row(t, "K03", {"b3005": -70}))
            t += 2.0
        t += 2 * WALK_GAP_S
    return rows


@given(st.lists(st.integers(1, 40), min_size=2, max_size=12), st.integers(2, 12))
def test_folds_are_runs_of_whole_walks_each_scored_once(sizes: list[int], k: int) -> None:
    rows = _walk_rows(sizes)
    if k > len(sizes):
        with pytest.raises(UciError, match=f"{k} folds need at least {k} walks"):
            fold_walks(rows, k)
        return
    folds = fold_walks(rows, k)
    assert len(folds) == k and all(folds)  # every fold is scored on something
    assert [len(w) for f in folds for w in f] == sizes  # every walk once, whole, in time order


def test_folds_hold_about_equal_rows_when_the_walks_allow() -> None:
    folds = fold_walks(_walk_rows([10] * 20), 4)
    assert [sum(len(w) for w in f) for f in folds] == [50, 50, 50, 50]


def test_each_fold_is_fitted_on_the_other_walks_only(tmp_path: Path) -> None:
    rows = [HEADER]
    for day, cell in ((19, "K03"), (20, "B08"), (21, "K03")):
        for s in range(0, 40, 2):
            rows.append(_row(cell, f"4-{day}-2016 10:00:{s:02d}", {5: -70 - s % 7}))
    (tmp_path / "x.csv").write_text("\n".join(rows))
    parts = convert_folds(tmp_path / "x.csv", tmp_path / "o", 3)
    assert len(parts) == 3
    for part in parts:
        scored = {(iv.t_start, iv.t_end) for iv in read_truth(part["evaluate"][1])}
        fitted = {(iv.t_start, iv.t_end) for iv in read_truth(part["fit"][1])}
        assert scored and len(fitted) == 2 and not scored & fitted


def test_usage_and_output_problems_are_one_line_with_the_spec_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --split 1.5 exited 1 (SPEC 2: a usage error is 2); an --out that cannot be written was a traceback
    (tmp_path / "x.csv").write_text(HEADER + "\n" + _row("J05", "10-18-2016 11:15:21", {1: -70}) + "\n")
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "x.csv"), "--out", str(tmp_path / "o"), "--split", "1.5"])
    assert e.value.code == 2
    assert "--split must be between 0 and 1" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main([str(tmp_path / "x.csv"), "--out", str(tmp_path / "file" / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'file' / 'o'}: cannot write: ")
