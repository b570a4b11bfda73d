"""Scoring: triggers are matched one to one within the tolerance, and a wrong truth shows up as lower scores."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import load_gateway_config
from gateway.truth import TruthInterval, read_truth, write_truth
from simulator.evaluate import TRIGGER_TOLERANCE_S, evaluate_day, match_triggers
from simulator.generate import GenerateResult


def test_triggers_match_per_customer_and_campaign_within_the_tolerance() -> None:
    expected = [("c1", "coffee", 100.0), ("c1", "bakery", 100.0), ("c2", "coffee", 500.0)]
    predicted = [
        ("c1", "coffee", 130.0),  # 30 s late: matched
        ("c1", "bakery", 100.0 + TRIGGER_TOLERANCE_S + 1),  # too late: a different visit, not this trigger
        ("c2", "bakery", 500.0),  # right time, wrong campaign
        ("c2", "coffee", 505.0),
        ("c2", "coffee", 506.0),  # a duplicate cannot match the same expected trigger twice
    ]
    pairs = match_triggers(predicted, expected, TRIGGER_TOLERANCE_S)
    assert sorted(pairs) == [(130.0, 100.0), (505.0, 500.0)]


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]), st.floats(0, 1000)), max_size=20),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]), st.floats(0, 1000)), max_size=20),
)
def test_matching_is_one_to_one(
    predicted: list[tuple[str, str, float]], expected: list[tuple[str, str, float]]
) -> None:
    pairs = match_triggers(predicted, expected, 60.0)
    assert len(pairs) <= min(len(predicted), len(expected))
    assert all(abs(p - e) <= 60.0 for p, e in pairs)
    assert len(match_triggers(expected, expected, 0.0)) == len(expected)  # everything matches itself


def test_a_wrong_truth_scores_lower(small_day: GenerateResult, tmp_path: Path) -> None:
    right = evaluate_day(small_day.scans, small_day.truth, small_day.config_dir)
    zones = sorted({iv.zone for iv in read_truth(small_day.truth)})
    shifted = {z: zones[(i + 1) % len(zones)] for i, z in enumerate(zones)}
    wrong_truth = tmp_path / "wrong.jsonl"
    write_truth(
        wrong_truth,
        [TruthInterval(iv.device, shifted[iv.zone], iv.t_start, iv.t_end) for iv in read_truth(small_day.truth)],
    )
    wrong = evaluate_day(small_day.scans, wrong_truth, small_day.config_dir)
    assert right["samples"] == wrong["samples"] > 0
    assert wrong["zone_accuracy"] < right["zone_accuracy"] - 0.3
    json.dumps(right)  # the --json output is plain JSON


def test_expected_triggers_follow_the_truth_and_never_reach_non_consenting_customers(
    small_day: GenerateResult,
) -> None:
    from gateway.setup import load_config_dir
    from gateway.sources.recording import read_recording
    from simulator.expected import expected_triggers

    loaded = load_config_dir(small_day.config_dir)
    customers = [json.loads(x) for x in small_day.customers.read_text().splitlines()]
    truth = read_truth(small_day.truth)
    _, adverts, _ = read_recording(small_day.scans)
    triggers = expected_triggers(loaded, customers, truth, adverts)
    assert triggers, "the session's day implies some coupons"
    refused = {c["customer_id"] for c in customers if not c["consent"]}
    campaigns = {c.id: c for c in loaded.campaigns}
    segments = {c["customer_id"]: set(c["segments"]) for c in customers}
    for trig in triggers:
        assert trig.customer_id not in refused
        campaign = campaigns[trig.campaign_id]
        assert campaign.segments is None or segments[trig.customer_id] & set(campaign.segments)
        # the customer really stood in the campaign's zone for at least the minimum dwell
        stays = [
            iv
            for iv in truth
            if iv.device == trig.customer_id
            and iv.zone == campaign.zone
            and iv.t_start <= trig.observed_at <= iv.t_end + 1.0
        ]
        assert stays and trig.observed_at - stays[0].t_start >= campaign.min_dwell_s - 2.0
    # with everybody's truth moved outside, nothing is implied
    outside = [TruthInterval(iv.device, "outside", iv.t_start, iv.t_end) for iv in truth]
    assert expected_triggers(loaded, customers, outside, adverts) == []


def test_scores_that_mean_nothing_come_with_a_warning(small_day: GenerateResult, tmp_path: Path) -> None:
    """With no customers known nobody is recognised: accuracy 0 and trigger scores of 1.0 (nothing expected,
    nothing sent) used to come out without a word. A truth zone the zones file lacks is named too."""
    config = tmp_path / "config"
    shutil.copytree(small_day.config_dir, config)
    gw = config / "gateway.toml"
    gw.write_text("\n".join(x for x in gw.read_text().splitlines() if not x.startswith("customers_file")) + "\n")
    intervals = read_truth(small_day.truth)
    truth = tmp_path / "truth.jsonl"
    first = intervals[0]
    write_truth(truth, [TruthInterval(first.device, "narnia", first.t_start, first.t_end), *intervals[1:]])
    scans = tmp_path / "scans.jsonl.gz"  # away from the day's customers.jsonl: nobody known at all
    shutil.copy(small_day.scans, scans)
    problems: list[str] = []
    scores = evaluate_day(scans, truth, config, on_problem=problems.append)
    assert scores["recognised"] == 0
    assert any(p.startswith("no advertisement was recognised as a customer's") for p in problems), problems
    assert f"{truth}: zones not in {config / 'zones.toml'}: 'narnia'; their samples count as wrong" in problems
    quiet: list[str] = []
    evaluate_day(small_day.scans, small_day.truth, small_day.config_dir, on_problem=quiet.append)
    assert quiet == []  # a day that matches its config draws no warning


def test_an_empty_truth_or_recording_is_named_not_blamed_on_the_config(
    small_day: GenerateResult, tmp_path: Path
) -> None:
    """Both used to score 0.0 with no word, or with a hint at customers_file, which was set."""
    empty_truth = tmp_path / "truth.jsonl"
    empty_truth.write_text("")
    problems: list[str] = []
    evaluate_day(small_day.scans, empty_truth, small_day.config_dir, on_problem=problems.append)
    assert f"{empty_truth}: no truth intervals: there is nothing to score against" in problems
    header_only = tmp_path / "scans.jsonl"
    with gzip.open(small_day.scans, "rt") as f:
        header_only.write_text(f.readline())
    problems = []
    evaluate_day(header_only, small_day.truth, small_day.config_dir, on_problem=problems.append)
    assert f"{header_only}: no advertisement: there is nothing to score" in problems
    assert not any("customers_file" in p for p in problems), problems


def _rewritten(src: Path, dst: Path, order: str) -> Path:
    """The same lines, each receiver's in its own order (all SPEC section 4 asks), the receivers one after another
    ("blocks", per-receiver files joined) or flushed in 20 s batches ("batches", a collector per node)."""
    with gzip.open(src, "rt") as f:
        header, *lines = f.read().splitlines()
    rows = [(json.loads(x)["rx"], json.loads(x)["t"], x) for x in lines]
    if order == "blocks":
        out = [x for rx in sorted({r[0] for r in rows}) for r_, _, x in rows if r_ == rx]
    else:
        out = [x for _, _, x in sorted(rows, key=lambda r: (int(r[1] // 20), r[0]))]
    dst.write_text("\n".join([header, *out]) + "\n")
    return dst


def test_receivers_in_batches_or_one_after_another_score_as_the_time_sorted_day(
    small_day: GenerateResult, tmp_path: Path
) -> None:
    """Before, receivers written one after another scored a day at 0.10-0.18 zone accuracy and no triggers, without
    a word; 20 s batches lost 17 points."""
    sorted_day = evaluate_day(small_day.scans, small_day.truth, small_day.config_dir)
    for order in ("batches", "blocks"):
        problems: list[str] = []
        scans = _rewritten(small_day.scans, tmp_path / f"{order}.jsonl", order)
        got = evaluate_day(scans, small_day.truth, small_day.config_dir, on_problem=problems.append)
        assert got["samples"] == sorted_day["samples"]
        assert abs(got["zone_accuracy"] - sorted_day["zone_accuracy"]) < 0.02, order
        assert got["trigger_recall"] == sorted_day["trigger_recall"], order
        said = [p for p in problems if "after later lines of other receivers" in p]
        if order == "batches":
            assert said == []  # merged as read
        else:
            assert len(said) == 1 and str(scans) in said[0]  # read again, sorted whole


def test_bad_customer_rows_are_named_and_the_rest_is_scored(small_day: GenerateResult, tmp_path: Path) -> None:
    """A mistyped key used to drop its customer without a word (scored as the pipeline's miss), and one row saved
    as Latin-1 stopped the whole evaluation with a message naming neither file nor line."""
    config = tmp_path / "config"
    shutil.copytree(small_day.config_dir, config)
    rows = (small_day.config_dir.parent / "customers.jsonl").read_bytes().splitlines()
    damaged = json.loads(rows[1])
    damaged["identifiers"][0]["kind"] = "Token"
    rows[1] = json.dumps(damaged).encode()
    rows.append(b'{"customer_id": "cust-9999", "consent": true, "segments": ["caf\xe9"], "identifiers": []}')
    (tmp_path / "customers.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    problems: list[str] = []
    got = evaluate_day(small_day.scans, small_day.truth, config, on_problem=problems.append)
    named = [p for p in problems if "customers.jsonl: line" in p]
    assert len(named) == 2
    assert any("line 2: identifiers[0].kind" in p for p in named)
    assert any(f"line {len(rows)}: not UTF-8 text" in p for p in named)
    assert got["samples"] > 0 and got["recognised"] > 0


def test_customers_imported_into_the_registry_or_beside_the_scans_are_the_ones_scored(
    small_day: GenerateResult, tmp_path: Path
) -> None:
    """A gateway.toml with only SPEC section 3's keys, its customers loaded with `customers import` (what replay
    and the daemon read): evaluate recognised nobody and exited 1, while calibrate evaluate scored the same files."""
    from gateway.identity.registry import Registry

    with_file = evaluate_day(small_day.scans, small_day.truth, small_day.config_dir)
    config = tmp_path / "config"
    shutil.copytree(small_day.config_dir, config)
    gw = config / "gateway.toml"
    gw.write_text("\n".join(x for x in gw.read_text().splitlines() if not x.startswith("customers_file")) + "\n")
    beside = evaluate_day(small_day.scans, small_day.truth, config)  # generate's customers.jsonl next to the scans
    scans = tmp_path / "scans.jsonl.gz"
    shutil.copy(small_day.scans, scans)
    state = load_gateway_config(config).state_dir
    state.mkdir(parents=True, exist_ok=True)
    with Registry(state / "registry.db") as registry:
        assert registry.import_file(small_day.config_dir.parent / "customers.jsonl").ok
    imported = evaluate_day(scans, small_day.truth, config)
    assert with_file["customers_from"].endswith("customers.jsonl")
    assert beside["customers_from"] == str(small_day.scans.parent / "customers.jsonl")
    assert imported["customers_from"] == str(state / "registry.db")
    for got in (beside, imported):
        assert got["samples"] == with_file["samples"] > 0
        assert got["zone_accuracy"] == with_file["zone_accuracy"]
        assert got["triggers_matched"] == with_file["triggers_matched"]


def test_the_evaluate_table_shows_zone_names_as_the_store_wrote_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Zone names are free text: "Aisle 7 [/b]" stopped proximity-sim evaluate with a traceback (rich markup), and
    "house[hold]" was shown as "house"."""
    import io

    from rich.console import Console

    import simulator.cli

    buf = io.StringIO()
    monkeypatch.setattr(simulator.cli, "out", Console(file=buf, width=200))
    simulator.cli._print_table({"zone_accuracy": 0.5, "zone_accuracy_by_zone": {"Aisle 7 [/b]": 0.5, "house[hold]": 1}})
    assert "Aisle 7 [/b] 0.50" in buf.getvalue() and "house[hold] 1.00" in buf.getvalue()


def test_a_truth_of_another_day_is_named_as_one(small_day: GenerateResult, tmp_path: Path) -> None:
    """Another day's truth (or one written in local time for UTC) scored nothing and said "the warnings above say
    why" above no warning."""
    shifted = tmp_path / "truth.jsonl"
    write_truth(
        shifted,
        [TruthInterval(iv.device, iv.zone, iv.t_start + 86400, iv.t_end + 86400) for iv in read_truth(small_day.truth)],
    )
    problems: list[str] = []
    got = evaluate_day(small_day.scans, shifted, small_day.config_dir, on_problem=problems.append)
    assert got["samples"] == 0
    assert [p for p in problems if p.startswith(f"{shifted}: every truth interval lies outside the recording's")]
    quiet: list[str] = []
    evaluate_day(small_day.scans, small_day.truth, small_day.config_dir, on_problem=quiet.append)
    assert not [p for p in quiet if "lie outside" in p or "lies outside" in p]


def test_a_customer_the_recogniser_never_matched_is_named_not_left_out_in_silence(
    small_day: GenerateResult, tmp_path: Path
) -> None:
    """A customer whose key is wrong (here: another secret, as a mistyped company id or a stale export would do) has
    no sample and no expected trigger, so every score read perfect without them."""
    config = tmp_path / "config"
    shutil.copytree(small_day.config_dir, config)
    rows = [json.loads(r) for r in (small_day.config_dir.parent / "customers.jsonl").read_text().splitlines()]
    in_truth = {iv.device for iv in read_truth(small_day.truth)}
    victim = next(
        r for r in rows if r["consent"] and r["customer_id"] in in_truth and r["identifiers"][0]["kind"] == "token"
    )
    victim["identifiers"] = [{"kind": "token", "secret": "00" * 16}]
    (tmp_path / "customers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    problems: list[str] = []
    got = evaluate_day(small_day.scans, small_day.truth, config, on_problem=problems.append)
    named = [p for p in problems if "never recognised" in p]
    assert len(named) == 1 and victim["customer_id"] in named[0], problems
    assert got["truth_devices_unrecognised"] == 1

    intact: list[str] = []
    whole = evaluate_day(small_day.scans, small_day.truth, small_day.config_dir, on_problem=intact.append)
    assert whole["truth_devices_unrecognised"] == 0 and not any("never recognised" in p for p in intact)


def test_a_campaign_for_a_segment_no_customer_has_is_named(small_day: GenerateResult, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(small_day.config_dir, config)
    (tmp_path / "customers.jsonl").write_bytes((small_day.config_dir.parent / "customers.jsonl").read_bytes())
    campaigns = config / "campaigns.toml"
    campaigns.write_text(
        campaigns.read_text() + '\n[[campaign]]\nid = "wine"\nzone = "coffee"\nsegments = ["sommelier"]\n'
    )
    problems: list[str] = []
    evaluate_day(small_day.scans, small_day.truth, config, on_problem=problems.append)
    named = [p for p in problems if "campaign 'wine'" in p]
    assert len(named) == 1 and named[0].startswith(f"{campaigns}:")
    assert "segments: no customer has segment 'sommelier'" in named[0]
