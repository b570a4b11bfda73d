"""Scan recordings (SPEC section 4): what a user sees when a recording is good, damaged or odd."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import stat
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.adverts import (
    EDDYSTONE_UUID,
    NO_RSSI_DBM,
    Advert,
    eddystone_uid_key_from_svc,
    encode_eddystone_uid,
    encode_ibeacon,
    ibeacon_key_from_mfr,
)
from gateway.sources.recording import (
    IN_ORDER_S,
    MAX_REPORTED_PROBLEMS,
    MERGE_S,
    Header,
    RecordingError,
    RecordingReader,
    RecordingWriter,
    read_recording,
)

HEADER = {"format": "proximity-scans", "version": 1, "store_id": "store-042", "source": "test"}


def line(t: float, rx: str = "rx-a", rssi: int = -60, **kw: object) -> str:
    obj = {
        "t": t,
        "rx": rx,
        "addr": "5A:1B:22:33:44:55",
        "rssi": rssi,
        "tx_power": None,
        "name": None,
        "mfr": {},
        "svc_data": {},
        "svc_uuids": [],
    }
    obj.update(kw)
    return json.dumps(obj)


def write(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_writer_and_reader_round_trip(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / ("s.jsonl.gz" if gz else "s.jsonl")
    adverts = [
        Advert(
            1000.5,
            "rx-a",
            "AA:BB:CC:DD:EE:FF",
            -61,
            None,
            "tag",
            encode_ibeacon("f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1, 7),
        ),
        Advert(1001.0, "rx-b", "11:22:33:44:55:66", -80, 4, None, {}, {"0000feaa-0000-1000-8000-00805f9b34fb": "00e7"}),
    ]
    with RecordingWriter(path, Header("store-042", {"rx-a": {"x": 0.0, "y": 1.5}}, "unit test")) as w:
        for a in adverts:
            w.write(a)
    header, got, stats = read_recording(path)
    assert got == adverts
    assert header.store_id == "store-042"
    assert header.receivers == {"rx-a": {"x": 0.0, "y": 1.5}}
    assert stats.adverts == 2 and stats.malformed == 0


def test_same_content_gives_identical_gzip_bytes(tmp_path: Path) -> None:
    for name in ("a.jsonl.gz", "b.jsonl.gz"):
        with RecordingWriter(tmp_path / name, Header("s")) as w:
            w.write(Advert(1.0, "rx", "AA:BB:CC:DD:EE:FF", -50))
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_malformed_lines_are_reported_with_their_number_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.jsonl",
        [
            json.dumps(HEADER),
            line(1.0),
            "{not json",
            line(2.0, rssi="strong"),  # type: ignore[arg-type]
            json.dumps({"t": 3.0, "rx": "rx-a"}),
            line(4.0, mfr={"76": "abc"}),
            "[1, 2]",
            line(5.0),
        ],
    )
    seen: list[str] = []
    with RecordingReader(path, on_problem=seen.append) as reader:
        got = [a.t for a in reader]
    assert got == [1.0, 5.0]
    assert reader.stats.malformed == 5
    assert [p.split(":")[1] for p in seen] == ["3", "4", "5", "6", "7"]
    assert "rssi" in seen[1] and "addr" in seen[2] and "mfr" in seen[3]
    assert all(p.startswith(str(path)) for p in seen)


@pytest.mark.parametrize("field", ["mfr", "svc_data"])
@pytest.mark.parametrize("value", [[], "", 0, False])
def test_an_empty_non_object_mfr_or_svc_data_is_a_malformed_line(tmp_path: Path, field: str, value: object) -> None:
    """SPEC section 4: both are objects. `"mfr": []` passed as a good line, and `calibrate fit`/`evaluate` with an
    iBeacon truth device then stopped with "AttributeError: 'list' object has no attribute 'get'"."""
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(1.0), line(2.0, **{field: value}), line(3.0)])
    seen: list[str] = []
    with RecordingReader(path, on_problem=seen.append) as reader:
        got = [a.t for a in reader]
    assert got == [1.0, 3.0]
    assert reader.stats.malformed == 1
    assert len(seen) == 1 and seen[0].startswith(f"{path}:3: ") and field in seen[0]


def test_a_second_header_is_named_as_one(tmp_path: Path) -> None:
    """Two recordings joined with `cat`: the second header was reported as "field 't' missing"."""
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(1.0), json.dumps(HEADER), line(2.0)])
    seen: list[str] = []
    with RecordingReader(path, on_problem=seen.append) as reader:
        assert [a.t for a in reader] == [1.0, 2.0]
    assert len(seen) == 1 and seen[0].startswith(f"{path}:3: a second header line") and "skipped" in seen[0]


def test_strict_makes_the_first_bad_line_fatal(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(1.0), "garbage"])
    with pytest.raises(RecordingError, match=r"s\.jsonl:3: not valid JSON"), RecordingReader(path, strict=True) as r:
        list(r)


def test_truncated_gzip_keeps_what_came_before(tmp_path: Path) -> None:
    lines = [json.dumps(HEADER)] + [line(float(i)) for i in range(2000)]
    full = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) // 2])
    with RecordingReader(path) as reader:
        got = list(reader)
    assert 0 < len(got) < 2000
    assert reader.stats.truncated
    assert any("ends early" in p for p in reader.stats.problems)


def test_clock_going_backwards_for_a_receiver_is_skipped_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(10.0), line(5.0, rx="rx-b"), line(9.0), line(11.0)])
    with RecordingReader(path) as reader:
        got = [(a.rx, a.t) for a in reader]
    # another receiver's earlier line is no clock going back: it is merged in time order
    assert got == [("rx-b", 5.0), ("rx-a", 10.0), ("rx-a", 11.0)]
    assert reader.stats.out_of_order == 1


@pytest.mark.parametrize("bad_t", [1e308, float("inf"), float("nan"), -5.0])
def test_a_time_no_clock_reads_is_one_bad_line_not_the_end_of_its_receiver(tmp_path: Path, bad_t: float) -> None:
    """Taken as a time, 1e308 would make every later line of rx-a 'go backwards' and be skipped."""
    later = [line(float(t)) for t in range(3, 40)]
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(1.0), line(bad_t), *later])
    seen: list[str] = []
    with RecordingReader(path, on_problem=seen.append) as reader:
        got = [a.t for a in reader]
    assert got == [1.0, *range(3, 40)]
    assert reader.stats.malformed == 1 and reader.stats.out_of_order == 0
    assert len(seen) == 1 and seen[0].startswith(f"{path}:3: field 't'")


def test_a_line_nested_past_the_parsers_limit_is_one_bad_line(tmp_path: Path) -> None:
    """SPEC: nothing but a malformed line's own loss stops a replay; a RecursionError used to end it."""
    deep = "[" * 100_000 + "]" * 100_000
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(1.0), deep, line(2.0)])
    with RecordingReader(path) as reader:
        got = [a.t for a in reader]
    assert got == [1.0, 2.0]
    assert reader.stats.problems == [f"{path}:3: not valid JSON"]


def test_a_plausible_but_wrong_time_costs_its_own_line_not_the_rest_of_its_receiver(tmp_path: Path) -> None:
    """t = 4e9 (the year 2096) is a time, but the receiver's next line goes back before it: the jump was the bad
    reading. Before, every later line of rx-a was skipped as going backwards."""
    lines = [line(float(t)) for t in range(1, 50)]
    lines.insert(10, line(4.0e9))
    lines.insert(20, line(5.0, rx="rx-b"))  # another receiver's clock is its own
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *lines])
    with RecordingReader(path) as reader:
        got = [(a.rx, a.t) for a in reader]
    assert [t for rx, t in got if rx == "rx-a"] == [float(t) for t in range(1, 50)]
    assert ("rx-b", 5.0) in got
    assert reader.stats.out_of_order == 1
    assert reader.stats.problems[0].startswith(f"{path}:12: t jumps")


def test_a_real_gap_in_a_receiver_and_a_jump_at_the_end_are_kept(tmp_path: Path) -> None:
    """A receiver that was off for an hour: its next line confirms the jump, and nothing is lost or reordered."""
    times = [1.0, 2.0, 3.0, 3603.0, 3604.0, 9000.0]
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *(line(t) for t in times)])
    with RecordingReader(path) as reader:
        got = [a.t for a in reader]
    assert got == times
    assert reader.stats.skipped == 0 and reader.stats.adverts == len(times)


def test_after_a_store_wide_gap_every_receivers_first_line_comes_out_in_file_order(tmp_path: Path) -> None:
    """A store closed overnight: each receiver's first morning line jumps hours ahead of its last. Another
    receiver's line at the same time confirms it at once, so the tracker sees the morning as it was recorded (before,
    each first line waited for its own receiver's next one, behind the other receivers' lines)."""
    rows = [(t, rx) for t in (1.0, 2.0) for rx in ("rx-a", "rx-b", "rx-c")]
    rows += [(30000.0 + i * 0.1, rx) for i, rx in enumerate(["rx-a", "rx-b", "rx-c", "rx-a", "rx-b", "rx-c"])]
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *(line(t, rx=rx) for t, rx in rows)])
    with RecordingReader(path) as reader:
        got = [(a.t, a.rx) for a in reader]
    assert got == rows
    assert reader.stats.skipped == 0


def test_a_receiver_whose_clock_disagrees_with_the_others_is_still_judged_by_its_own_next_line(tmp_path: Path) -> None:
    """rx-b's clock runs an hour ahead of rx-a's (no NTP): its lines are not confirmed by rx-a's, but its own next
    line confirms its jump, and nothing is lost. A bad reading of rx-b is still dropped."""
    rows = [(1.0, "rx-a"), (3601.0, "rx-b"), (2.0, "rx-a"), (3602.0, "rx-b"), (4.0e9, "rx-b"), (3.0, "rx-a")]
    rows += [(3603.0, "rx-b")]
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *(line(t, rx=rx) for t, rx in rows)])
    with RecordingReader(path) as reader:
        got = [(a.t, a.rx) for a in reader]
    assert sorted(got) == sorted(r for r in rows if r[0] != 4.0e9)
    assert reader.stats.out_of_order == 1


def _per_receiver_batches(draw: st.DrawFn) -> tuple[float, list[tuple[float, str]]]:
    """Two to four receivers' lines, each receiver's in time order, written by a tool that flushes each receiver's
    buffer in turn every `batch_s` seconds (a collector per node, a primary's node batches)."""
    # not within a factor of two of IN_ORDER_S: there the first minute may not show the batching that comes later
    batch_s = draw(st.one_of(st.floats(0.1, IN_ORDER_S / 2), st.floats(2 * IN_ORDER_S, MERGE_S / 2)))
    rows: list[tuple[float, str]] = []
    for k in range(draw(st.integers(2, 4))):
        t = 1000.0
        for gap in draw(st.lists(st.floats(0.0, 5.0), min_size=1, max_size=40)):
            t += gap
            rows.append((round(t, 3), f"rx-{k}"))
    rows.sort(key=lambda r: (int((r[0] - 1000.0) // batch_s), r[1]))  # stable: each receiver keeps its order
    return batch_s, rows


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.composite(_per_receiver_batches)())
def test_receivers_written_in_batches_come_out_in_time_order(
    tmp_path: Path, drawn: tuple[float, list[tuple[float, str]]]
) -> None:
    """SPEC section 4 orders lines per receiver only. A tool that writes each receiver's lines in batches must
    still give the pipeline one time line, or every device it hears is placed by stale readings (20 s batches took
    a day's zone accuracy from 0.84 to 0.68). Batches of up to IN_ORDER_S pass as read, as a primary's own do."""
    batch_s, rows = drawn
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *(line(t, rx=rx) for t, rx in rows)])
    with RecordingReader(path) as reader:
        got = [(a.t, a.rx) for a in reader]
    assert sorted(got) == sorted(rows)  # nothing lost, nothing added
    for rx in {rx for _, rx in rows}:  # each receiver's own order kept
        assert [g for g in got if g[1] == rx] == [r for r in rows if r[1] == rx]
    times = [t for t, _ in got]
    backwards = max([a - b for a, b in itertools.pairwise(times)] + [0.0])
    assert backwards <= (IN_ORDER_S if batch_s <= IN_ORDER_S else 0.0)
    assert reader.stats.late == 0 and reader.stats.problems == []


def test_receivers_written_one_after_another_are_named_and_kept_or_sorted_whole(tmp_path: Path) -> None:
    """Per-receiver files joined: more than a streaming read can merge. Nothing is lost, the problem is one line
    naming the file and the receivers, and a caller that holds the whole recording gets it sorted."""
    a = [(1000.0 + i, "rx-a") for i in range(300)]
    b = [(1000.5 + i, "rx-b") for i in range(300)]
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *(line(t, rx=rx) for t, rx in a + b)])
    with RecordingReader(path) as reader:
        got = [(a.t, a.rx) for a in reader]
    assert sorted(got) == sorted(a + b)
    assert reader.stats.late == sum(t < a[-1][0] - IN_ORDER_S for t, _ in b)  # behind what has gone on
    assert len(reader.stats.problems) == 1
    problem = reader.stats.problems[0]
    assert problem.startswith(f"{path}: {reader.stats.late} lines") and "rx-b by up to" in problem
    assert "rx-a" not in problem and "sort the file" in problem
    with RecordingReader(path, sort_all=True) as whole:
        assert [(a.t, a.rx) for a in whole] == sorted(a + b)
    assert whole.stats.problems == [] and whole.stats.late == 0


def test_a_quiet_receivers_confirmed_jump_comes_out_in_time_order(tmp_path: Path) -> None:
    """Two receivers that each hear someone every ten minutes or so: every line jumps past the hold, and the lines
    they confirm must still come out in time order (1000 used to come after 1700)."""
    rows = [(0.0, "rx-a"), (1.0, "rx-b"), (1000.0, "rx-a"), (1700.0, "rx-b"), (1710.0, "rx-a"), (1711.0, "rx-b")]
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *(line(t, rx=rx) for t, rx in rows)])
    with RecordingReader(path) as reader:
        assert [(a.t, a.rx) for a in reader] == rows
    assert reader.stats.skipped == 0


def test_what_other_writers_write_is_read_and_what_nobody_could_decode_is_named(tmp_path: Path) -> None:
    """Writers without integers send rssi -67.0; a payload in "0x..." or base64 form would match nobody and stop
    whatever decodes it later, and a 400-digit t was echoed in full."""
    rows = [
        line(1.0, rssi=-67.0, tx_power=-59.0),  # type: ignore[arg-type]  # line() builds the JSON as given
        line(2.0, mfr={"76": "0x0215"}),
        line(3.0, svc_data={EDDYSTONE_UUID: "AhX3gm2mT6JO"}),
        line(3.5, rssi=-67.5),  # type: ignore[arg-type]
        json.dumps({"t": 10**400, "rx": "rx-a", "addr": "x", "rssi": -60}),
    ]
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *rows])
    with RecordingReader(path) as reader:
        got = list(reader)
    assert [(a.t, a.rssi, a.tx_power) for a in got] == [(1.0, -67, -59)]
    assert type(got[0].rssi) is int
    problems = reader.stats.problems
    assert problems[0] == f"{path}:3: mfr[76] is not a hex string"
    assert problems[1] == f"{path}:4: svc_data[{EDDYSTONE_UUID}] is not a hex string"
    assert problems[2].startswith(f"{path}:5: field 'rssi'")
    assert problems[3].startswith(f"{path}:6: field 't' is 100000000000... (401 digits), not a time between 1970")
    assert reader.stats.malformed == 4


def test_another_programs_header_is_named_once_as_what_it_is(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [json.dumps({"format": "btmon-export", "version": 3}), line(1.0)])
    with RecordingReader(path) as reader:
        assert len(list(reader)) == 1
    assert reader.stats.problems == [
        f"{path}:1: header format 'btmon-export' is not 'proximity-scans'; reading the lines after it"
    ]


def test_a_flood_of_skipped_lines_ends_with_one_line_of_totals(tmp_path: Path) -> None:
    """Only the first problems are listed; the user still learns how much was skipped, and the likely cause."""
    shuffled = [line(float(t)) for t in range(100, 0, -1)]  # sorted the wrong way round
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), *shuffled, "garbage"])
    seen: list[str] = []
    with RecordingReader(path, on_problem=seen.append) as reader:
        got = list(reader)
    assert len(got) == 1
    assert len(seen) == MAX_REPORTED_PROBLEMS + 1
    assert seen[-1] == (
        f"{path}: 100 of 102 lines skipped (1 malformed; 99 out of order: is the file sorted by t for each "
        f"receiver?); the first {MAX_REPORTED_PROBLEMS} are listed above"
    )


def test_a_few_skipped_lines_need_no_totals(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(2.0), line(1.0), "garbage"])
    with RecordingReader(path) as reader:
        list(reader)
    assert len(reader.stats.problems) == 2


def test_missing_header_is_reported_but_the_data_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [line(1.0), line(2.0)])
    with RecordingReader(path) as reader:
        assert [a.t for a in reader] == [1.0, 2.0]
    assert "header" in reader.stats.problems[0]


def test_a_newer_version_is_one_warning_and_the_lines_it_understands_are_read(tmp_path: Path) -> None:
    """SPEC section 4: nothing but a malformed line stops a replay. A version-2 header stopped it before line 2."""
    header = json.dumps({**HEADER, "version": 2, "receivers": {"rx-a": {"x": 1.0, "y": 2.0}}})
    path = write(tmp_path / "s.jsonl", [header, line(1.0), json.dumps({"v2_record": 1}), line(2.0, new_key=3)])
    for strict in (False, True):
        seen: list[str] = []
        with RecordingReader(path, on_problem=seen.append) as reader:
            got = [a.t for a in reader]
        assert got == [1.0, 2.0] and reader.header.receivers == {"rx-a": {"x": 1.0, "y": 2.0}}
        assert seen[0] == (
            f"{path}:1: recording format version 2 is newer than this gateway reads (1): reading the lines it "
            "understands, each other line is reported and skipped"
        )
        assert seen[1].startswith(f"{path}:3: ") and len(seen) == 2
        if strict:  # the version alone is not fatal; the line it cannot read is
            with pytest.raises(RecordingError, match=r"s\.jsonl:3: "), RecordingReader(path, strict=True) as r:
                list(r)


@pytest.mark.parametrize(("version", "shown"), [('"two"', '"two"'), ("0", "0"), ("1.5", "1.5"), ("true", "true")])
def test_an_unreadable_version_is_one_line_naming_the_file_and_strict_makes_it_fatal(
    tmp_path: Path, version: str, shown: str
) -> None:
    header = json.dumps(HEADER).replace('"version": 1', f'"version": {version}')
    path = write(tmp_path / "s.jsonl", [header, line(1.0)])
    with RecordingReader(path) as reader:
        assert [a.t for a in reader] == [1.0]
    assert reader.stats.problems == [
        f"{path}:1: header field 'version' is {shown}, not a format version (a whole number from 1); reading the "
        "file as version 1"
    ]
    with pytest.raises(RecordingError, match=rf"s\.jsonl:1: header field 'version' is {shown}, "):
        read_recording(path, strict=True)


def test_a_missing_file_or_a_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such recording"):
        read_recording(tmp_path / "absent.jsonl")
    (tmp_path / "adir.jsonl").mkdir()  # it is there: "no such recording" sent people looking for a typo
    with pytest.raises(RecordingError, match=r"adir\.jsonl: a directory, not a recording"):
        read_recording(tmp_path / "adir.jsonl")
    # `--scans <(zcat day.jsonl.gz)` said "no such recording" of a path that is there: a pipe, which cannot be read
    # twice as the reader does (it sniffs the start for gzip)
    os.mkfifo(tmp_path / "pipe.jsonl")
    with pytest.raises(RecordingError, match=r"pipe\.jsonl: not a regular file \(a pipe\?\)"):
        read_recording(tmp_path / "pipe.jsonl")


def test_company_ids_with_leading_zeros_and_upper_case_service_uuids_are_read_in_spec_form(tmp_path: Path) -> None:
    """SPEC section 4: company id in decimal, 128-bit UUID. "076" or an upper-case Eddystone UUID missed the
    parsers' lookups, so the customer's tag was never recognised, without a word."""
    beacon = encode_ibeacon("f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1, 7)["76"]
    eddystone = encode_eddystone_uid("aa" * 10, "bb" * 6)[EDDYSTONE_UUID]
    path = write(
        tmp_path / "s.jsonl",
        [
            json.dumps(HEADER),
            line(1.0, mfr={"076": beacon}, svc_data={EDDYSTONE_UUID.upper(): eddystone}),
            line(2.0, svc_data={"FEAA": eddystone}),  # the 16-bit form, as some scanners write it
        ],
    )
    _, got, stats = read_recording(path)
    assert stats.malformed == 0
    assert got[0].mfr == {"76": beacon} and ibeacon_key_from_mfr(got[0].mfr) is not None
    assert eddystone_uid_key_from_svc(got[0].svc_data) == "aa" * 10 + "bb" * 6
    assert eddystone_uid_key_from_svc(got[1].svc_data) == "aa" * 10 + "bb" * 6


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("mfr", {"0x004c": "02"}, "mfr key '0x004c' is not a company identifier in decimal (0..65535)"),
        ("mfr", {"70000": "02"}, "mfr key '70000' is not a company identifier in decimal (0..65535)"),
        ("mfr", {"76": "02", "076": "03"}, "mfr keys name '76' twice"),
        ("svc_data", {"eddystone": "00"}, "svc_data key 'eddystone' is not a service UUID"),
    ],
)
def test_a_key_not_in_spec_form_is_a_malformed_line_naming_it(
    tmp_path: Path, field: str, value: dict[str, str], words: str
) -> None:
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(1.0, **{field: value}), line(2.0)])
    seen: list[str] = []
    with RecordingReader(path, on_problem=seen.append) as reader:
        assert [a.t for a in reader] == [2.0]
    assert seen == [f"{path}:2: {words}"]


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [json.dumps({**HEADER, "firmware": "x"}), line(1.0, extra=5)])
    _, got, stats = read_recording(path)
    assert len(got) == 1 and stats.malformed == 0


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=80), max_size=20))
def test_reader_never_raises_on_arbitrary_bytes(tmp_path: Path, chunks: list[bytes]) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(json.dumps(HEADER).encode() + b"\n" + b"\n".join(chunks))
    with RecordingReader(path) as reader:
        for adv in reader:
            assert isinstance(adv.rssi, int)


@pytest.mark.parametrize("name", ["walk.jsonl", "walk.jsonl.gz"])
def test_appending_continues_a_recording_with_one_header(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    for zone_no in range(3):  # a calibration walk: one command per zone, into the same file
        with RecordingWriter(path, Header("store-042"), append=True) as w:
            w.write(Advert(100.0 * zone_no, "rx-a", "AA:BB:CC:DD:EE:FF", -60 - zone_no))
    header, got, stats = read_recording(path)
    assert [a.rssi for a in got] == [-60, -61, -62]
    assert header.store_id == "store-042" and stats.malformed == 0


def test_appending_after_a_torn_last_line_starts_a_new_line(tmp_path: Path) -> None:
    """A run killed mid-line left half a line; the next zone's first advertisement used to be glued onto it."""
    path = tmp_path / "cal.jsonl"
    with RecordingWriter(path, Header("store-042"), append=True) as w:
        w.write(Advert(1.0, "rx-a", "AA:BB:CC:DD:EE:FF", -60))
    path.write_bytes(path.read_bytes() + b'{"t":2.0,"rx":"rx-')
    with RecordingWriter(path, Header("store-042"), append=True) as w:
        w.write(Advert(3.0, "rx-a", "AA:BB:CC:DD:EE:FF", -61))
    _, got, stats = read_recording(path)
    assert [a.t for a in got] == [1.0, 3.0] and stats.malformed == 1  # only the torn line is lost


def test_appending_refuses_another_stores_recording_and_a_disguised_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cal.jsonl"
    with RecordingWriter(path, Header("store-042"), append=True) as w:
        w.write(Advert(1.0, "rx-a", "AA:BB:CC:DD:EE:FF", -60))
    before = path.read_bytes()
    with pytest.raises(RecordingError, match="a recording of store 'store-042'; this is store 'store-999'"):
        RecordingWriter(path, Header("store-999"), append=True).__enter__()
    disguised = tmp_path / "gz.jsonl"
    disguised.write_bytes(gzip.compress(before))
    with pytest.raises(RecordingError, match="is gzip-compressed although its name says otherwise"):
        RecordingWriter(disguised, Header("store-042"), append=True).__enter__()
    assert path.read_bytes() == before  # nothing was written to either
    assert gzip.decompress(disguised.read_bytes()) == before


def _read_all(path: Path) -> tuple[list[dict[str, object]], list[object]]:
    with RecordingReader(path) as reader:
        adverts = [a.to_json() for a in reader]
        s = reader.stats
        return adverts, [s.lines, s.adverts, s.malformed, s.out_of_order, s.truncated, s.problems]


def _never_scans(_decoder: object) -> object:
    def scan(_text: str, _idx: int) -> tuple[object, int]:
        raise StopIteration

    return scan


_odd_line = st.builds(
    lambda t, pre, post: pre + line(t) + post,
    st.floats(0, 10),
    st.sampled_from(["", " ", "\t", "\r", "\x0b", "\u00a0"]),
    st.sampled_from(["", " ", "\r", "\t ", "x", "}", "{}", "\x0c", "\u2028"]),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_odd_line, st.text(max_size=30)), max_size=15), st.booleans())
def test_the_scanner_fast_path_reads_exactly_what_decode_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], gz: bool
) -> None:
    path = write(tmp_path / "odd.jsonl", [json.dumps(HEADER), *lines], gz)
    fast = _read_all(path)
    with monkeypatch.context() as m:  # every line through json's decode(), as before the fast path
        m.setattr("gateway.sources.recording.make_scanner", _never_scans)
        slow = _read_all(path)
    assert fast == slow


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
def test_a_new_recording_is_readable_by_its_owner_only(tmp_path: Path, name: str) -> None:
    """It holds the addresses of every device it heard, like the state files (0600)."""
    with RecordingWriter(tmp_path / name, Header("store-042")) as w:
        w.write(Advert(1.0, "rx-a", "AA:BB:CC:DD:EE:FF", -60))
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
def test_a_recording_written_over_a_file_anyone_can_read_is_made_private(tmp_path: Path, name: str) -> None:
    """O_CREAT's mode applies to a new file only: `record --all --out` onto an existing 0644 file left every
    device's address readable to all (a security sweep)."""
    (tmp_path / name).touch(mode=0o644)
    (tmp_path / name).chmod(0o644)
    with RecordingWriter(tmp_path / name, Header("store-042")) as w:
        w.write(Advert(1.0, "rx-a", "AA:BB:CC:DD:EE:FF", -60))
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_hcis_rssi_not_available_is_read_as_the_no_rssi_bluez_writes(tmp_path: Path) -> None:
    """HCI says 127 for a packet without an RSSI, BlueZ -127: both are the device heard with no level (the tracker
    keeps it out of the filters). 127 used to cost the line as 'not an integer in -127..20'."""
    path = write(tmp_path / "s.jsonl", [json.dumps(HEADER), line(1.0, rssi=127), line(2.0, rssi=-127)])
    _, got, stats = read_recording(path)
    assert [a.rssi for a in got] == [NO_RSSI_DBM, NO_RSSI_DBM] and stats.malformed == 0


@pytest.mark.parametrize(("content", "skipped"), [(b"\xef\xbb\xbf", 0), (b"\xef\xbb\xbf\n", 1), (b"", 0)])
def test_a_byte_order_mark_alone_reads_as_the_empty_file_it_is(tmp_path: Path, content: bytes, skipped: int) -> None:
    """A BOM alone was a header 'not valid JSON' counted as two skipped lines of a file of one."""
    path = tmp_path / "bom.jsonl"
    path.write_bytes(content)
    with RecordingReader(path) as r:
        assert list(r) == []
    assert r.stats.skipped == skipped and r.stats.lines == 1


def test_opening_a_reader_twice_reads_its_header_once(tmp_path: Path) -> None:
    """replay opens the recording before connecting (to name a bad path first) and then reads it in a `with`."""
    path = tmp_path / "bad-header.jsonl"
    path.write_text("{not json\n" + line(1.0) + "\n")
    r = RecordingReader(path)
    r.open()
    with r:
        got = list(r)
    assert len(got) == 1 and r.stats.malformed == 1 and len(r.stats.problems) == 1


def test_the_first_minute_read_to_check_the_order_is_not_held_for_the_whole_replay(tmp_path: Path) -> None:
    """The reader looks at a recording's first minute to see how it was written. It kept those lines until the
    replay ended: a busy store's first minute, about 8 MB of a one-hour replay's 9 MB (bench_pipeline's soak)."""
    busy = [line(1000.0 + i * 0.003, rssi=-60 - i % 30) for i in range(20_000)]  # 60 s of a busy store
    rest = [line(1060.0 + i * 0.5) for i in range(200)]
    path = write(tmp_path / "busy.jsonl", [json.dumps(HEADER), *busy, *rest])
    held = -1
    tracemalloc.start()
    try:
        with RecordingReader(path) as reader:
            for n, _ in enumerate(reader, 1):
                if n == len(busy) + 100:  # past the first minute, still reading
                    held = tracemalloc.get_traced_memory()[0]
                    break
    finally:
        tracemalloc.stop()
    assert 0 < held < 2_000_000, f"{held / 1e6:.1f} MB held after the first minute"
