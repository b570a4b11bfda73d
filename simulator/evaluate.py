"""`proximity-sim evaluate`: the real pipeline over a recording, scored against the ground truth.

Zone accuracy: over labelled samples (SPEC section 5: a (customer, time) with an advertisement inside one of their
truth intervals, once however many receivers heard it), the share whose estimate equals the true zone ("unknown"
counts as wrong). A sample's estimate is
the one describing its time: the latest with `est.t` <= the advertisement's time (gateway/zones/pairing.py;
with the forward filter alone, the estimate right after processing that advertisement). Flaps: an estimated
zone left again within FLAP_WINDOW_S (ignoring "unknown") while the truth stayed put. Decision latency: from
the start of a true zone stay to the first estimate of that zone.
Triggers: the campaign engine is also run over the truth itself (simulator.expected: the true zone,
confidence 1, at each of the customer's advertisement times, "unknown" where the truth has no zone);
predicted and expected triggers are matched per (customer, campaign) in time order when they lie within
TRIGGER_TOLERANCE_S of each other.
precision = matched / predicted, recall = matched / expected (1.0 when the denominator is 0).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.adverts import Advert
from gateway.identity.importer import read_customers_file
from gateway.identity.models import Customer
from gateway.identity.resolver import Resolver
from gateway.pipeline import Pipeline
from gateway.sources.recording import Header, ReadStats, RecordingReader
from gateway.truth import TruthIndex, TruthInterval, never_recognised_note, read_truth
from gateway.zones.estimate import UNKNOWN, ZoneEstimate
from gateway.zones.pairing import EstimatePairing, SampleTimes
from gateway.zones.walkcheck import unknown_truth_zones, unscorable_outside
from simulator.expected import ExpectedTriggers

TRIGGER_TOLERANCE_S = 120.0  # a trigger may come later than the truth's by the decision latency plus smoothing
FLAP_WINDOW_S = 30.0  # a zone held for less than this and then left again is a flap, not a visit
LATENCY_MIN_STAY_S = 20.0  # stays shorter than this are passages: no decision is expected in them


@dataclass
class _DeviceTrack:
    """Running state per customer for flaps and latency; memory per customer, not per advertisement."""

    zone: str | None = None  # last estimated zone other than unknown
    since: float = 0.0
    previous: str | None = None
    truth_zone: str | None = None
    truth_since: float = 0.0
    latency_pending: bool = False


@dataclass
class Scores:
    samples: int = 0
    correct: int = 0
    per_zone: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    flaps: int = 0
    tracked_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    stays: int = 0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, math.floor(q * len(v)))], 3)


def match_triggers(
    predicted: list[tuple[str, str, float]], expected: list[tuple[str, str, float]], tolerance_s: float
) -> list[tuple[float, float]]:
    """(predicted t, expected t) pairs matched per (customer, campaign), greedily in time order."""
    exp: dict[tuple[str, str], list[float]] = defaultdict(list)
    for c, k, t in expected:
        exp[(c, k)].append(t)
    pred: dict[tuple[str, str], list[float]] = defaultdict(list)
    for c, k, t in predicted:
        pred[(c, k)].append(t)
    pairs: list[tuple[float, float]] = []
    for key, ps in pred.items():
        es = sorted(exp.get(key, []))
        used = [False] * len(es)
        for p in sorted(ps):
            best = None
            for i, e in enumerate(es):
                if not used[i] and abs(p - e) <= tolerance_s and (best is None or abs(p - e) < abs(p - es[best])):
                    best = i
            if best is not None:
                used[best] = True
                pairs.append((p, es[best]))
    return pairs


def _customers(
    customers_file: Path | None, state_dir: Path, scans: Path, on_problem: Callable[[str], None]
) -> tuple[list[Customer], str | None]:
    """Every customer the gateway would know, consenting or not (a trigger to one marked consent false is a privacy
    failure): gateway.toml's customers_file; else the consent registry `customers import` fills (state_dir), as
    `replay` and the daemon read it; else the customers.jsonl `generate` writes next to the scans. A bad row of a
    file is named, as `customers import` names it, and the rest is read: a customer lost without a word would be
    scored as the pipeline's miss."""
    if customers_file is None:
        registry_db = state_dir / "registry.db"
        if registry_db.is_file():
            from gateway.identity.registry import Registry, RegistryError

            try:
                with Registry(registry_db) as registry:
                    return registry.list(), str(registry_db)
            except RegistryError as e:
                on_problem(str(e))
                return [], None
        beside = scans.parent / "customers.jsonl"
        if not beside.is_file():
            return [], None
        customers_file = beside
    parsed = read_customers_file(customers_file)
    for problem in parsed.problems:
        on_problem(problem)
    return parsed.customers, str(customers_file)


def _triggers(events: Any) -> list[tuple[str, str, float]]:
    return [(e.customer_id, e.campaign_id, float(e.observed_at)) for e in events if hasattr(e, "campaign_id")]


def evaluate_day(
    scans: Path,
    truth: Path,
    config_dir: Path,
    on_problem: Callable[[str], None] | None = None,
    progress: Callable[[float], None] | None = None,
    before_advert: Callable[[Pipeline, Advert], None] | None = None,
) -> dict[str, Any]:
    """Runs the pipeline over `scans` with the recording's clock and returns the scores (SPEC section 2 keys).
    `before_advert` sees the pipeline before each advertisement: what a benchmark changes as the day goes on (a
    node that says it is offline, benchmarks/bench_dead_receiver.py).

    A recording whose receivers come one after another (SPEC section 4 orders lines per receiver only) is more
    than the streaming reader can merge: it is then read again, sorted whole in memory, and scored on that."""
    problems: list[str] = []
    scores = _evaluate(scans, truth, config_dir, problems.append, progress, before_advert, sort_all=False)
    if scores["lines_out_of_time_order"]:
        problems = [
            f"{scans}: {scores['lines_out_of_time_order']} lines come long after later lines of other receivers; "
            "scored on the recording sorted by t in memory"
        ]
        scores = _evaluate(scans, truth, config_dir, problems.append, progress, before_advert, sort_all=True)
    if on_problem is not None:
        for p in problems:
            on_problem(p)
    return scores


class _DayScore:
    """Zone accuracy, flaps and decision latency, one labelled sample at a time; memory per customer."""

    def __init__(self, index: TruthIndex) -> None:
        self.index = index
        self.scores = Scores()
        self.tracks: dict[str, _DeviceTrack] = {}

    def observe(self, customer_id: str, t: float, true_zone: str | None, est: ZoneEstimate) -> None:
        scores = self.scores
        tr = self.tracks.setdefault(customer_id, _DeviceTrack(since=t, truth_since=t))
        if true_zone is not None:
            scores.samples += 1
            ok = est.zone == true_zone
            scores.correct += ok
            cell = scores.per_zone[true_zone]
            cell[0] += 1
            cell[1] += ok
        if true_zone != tr.truth_zone:
            tr.truth_zone, tr.truth_since = true_zone, t
            stay = next((iv for iv in self.index.intervals(customer_id) if iv.t_start <= t <= iv.t_end), None)
            tr.latency_pending = stay is not None and stay.t_end - stay.t_start >= LATENCY_MIN_STAY_S
            if tr.latency_pending and stay is not None:
                scores.stays += 1
                tr.truth_since = stay.t_start
        if tr.latency_pending and est.zone == true_zone:
            scores.latencies.append(t - tr.truth_since)
            tr.latency_pending = False
        if est.zone in (UNKNOWN, tr.zone):
            return
        if (
            tr.zone is not None
            and tr.previous == est.zone
            and t - tr.since < FLAP_WINDOW_S
            and tr.truth_since <= tr.since
        ):
            scores.flaps += 1
        tr.previous, tr.zone, tr.since = tr.zone, est.zone, t


@dataclass
class _Replayed:
    """What one pass of the pipeline over the recording left to score."""

    predicted: list[tuple[str, str, float]] = field(default_factory=list)  # (customer, campaign, observed_at)
    presence_events: int = 0
    t_first: float | None = None
    t_last: float = 0.0
    last_seen: dict[str, float] = field(default_factory=dict)  # customer -> their last advertisement's time
    stats: ReadStats = field(default_factory=ReadStats)
    header: Header = field(default_factory=Header)


def _replay(
    scans: Path,
    pipeline: Pipeline,
    sender: Resolver,
    expected_engine: ExpectedTriggers,
    day: _DayScore,
    on_problem: Callable[[str], None],
    progress: Callable[[float], None] | None,
    before_advert: Callable[[Pipeline, Advert], None] | None,
    sort_all: bool,
) -> _Replayed:
    """The pipeline over the recording, each labelled sample scored against the estimate describing its time, which
    with the tracker's fixed-lag smoother arrives a few seconds after the advertisement (gateway/zones/pairing.py).
    Who sent each advertisement is decided by `sender`, a resolver of our own: an advertisement the pipeline failed
    to recognise must count against it (no estimate = wrong), not vanish from the score. The expected triggers
    see every advertisement as it comes."""
    out = _Replayed()
    pairing: EstimatePairing[str | None] = EstimatePairing(day.observe)
    times = SampleTimes()  # one sample per (customer, time), however many receivers heard it (SPEC section 5)
    with RecordingReader(scans, on_problem=on_problem, sort_all=sort_all) as reader:
        adv: Advert
        for n, adv in enumerate(reader):
            if before_advert is not None:
                before_advert(pipeline, adv)
            events = pipeline.process(adv)
            who = sender.match(adv)
            if who is not None:
                est = pipeline.tracker.estimate(who)
                if est is None:
                    pairing.end(who)  # not tracked (the pipeline did not recognise it): no estimate describes it
                else:
                    pairing.estimate(who, est)
                out.last_seen[who] = adv.t
                true_zone = expected_engine.observe(who, adv.t)  # the expected triggers see every line
                if times.first(who, adv.t):
                    pairing.sample(who, adv.t, true_zone)
            if events:
                trig = _triggers(events)
                out.predicted.extend(trig)
                out.presence_events += len(events) - len(trig)
            if out.t_first is None:
                out.t_first = adv.t
            out.t_last = adv.t
            if progress is not None and n % 20000 == 0:
                progress(adv.t)
        out.stats = reader.stats
    out.header = reader.header
    pairing.flush()
    return out


def _truth_span_problems(
    truth: Path, scans: Path, intervals: list[TruthInterval], run: _Replayed, on_problem: Callable[[str], None]
) -> None:
    """A truth with nothing in it, or with intervals outside the recording (another day's, or local time for UTC)."""
    if not intervals:
        on_problem(f"{truth}: no truth intervals: there is nothing to score against")
    elif run.t_first is not None and (
        off := [iv for iv in intervals if iv.t_end < run.t_first or iv.t_start > run.t_last]
    ):
        span = f"the recording's time span {run.t_first:.3f}..{run.t_last:.3f}"
        if len(off) == len(intervals):  # another day's truth, or one written in local time for UTC
            on_problem(f"{truth}: every truth interval lies outside {span} ({scans}): nothing can be scored")
        else:
            on_problem(f"{truth}: {len(off)} of {len(intervals)} truth intervals lie outside {span}; not scored")


def _recognition_problems(
    truth: Path,
    scans: Path,
    intervals: list[TruthInterval],
    listed: list[Customer],
    pipeline: Pipeline,
    run: _Replayed,
    on_problem: Callable[[str], None],
) -> list[str]:
    """Nothing recognised at all, or customers with truth the recogniser missed altogether (a wrong token company
    id, a mistyped key): they have no sample and no expected trigger, so the scores would say nothing of them.
    Returns those customers."""
    if run.t_first is None:
        on_problem(f"{scans}: no advertisement: there is nothing to score")
    elif pipeline.stats.recognised == 0:
        known = (
            f"none of the {len(listed)} customers known matches them"
            if listed
            else "no customers known: set customers_file in gateway.toml, run `proximity-gateway customers import`, "
            "or put customers.jsonl next to the scans"
        )
        on_problem(
            f"no advertisement was recognised as a customer's ({known}): zone accuracy is 0 and the trigger scores "
            "say nothing"
        )
    t_first = run.t_first
    in_span = {
        iv.device for iv in intervals if t_first is not None and iv.t_end >= t_first and iv.t_start <= run.t_last
    }
    unrecognised = sorted(in_span - set(run.last_seen) - {c.customer_id for c in listed if not c.consent})
    if unrecognised and run.last_seen:
        hint = (
            ", triggers included (check their identifiers, their consent, and token_company_id under [recognition] "
            "in gateway.toml)"
        )
        on_problem(never_recognised_note(truth, unrecognised, len(in_span), hint))
    return unrecognised


def _tracked_hours(intervals: list[TruthInterval], t_first: float | None, t_last: float) -> float:
    """Hours of truth within the recording: what flaps are counted per."""
    lo = t_first or 0.0
    return (
        sum(min(iv.t_end, t_last) - max(iv.t_start, lo) for iv in intervals if iv.t_end > lo and iv.t_start < t_last)
        / 3600.0
    )


def _evaluate(
    scans: Path,
    truth: Path,
    config_dir: Path,
    on_problem: Callable[[str], None],
    progress: Callable[[float], None] | None,
    before_advert: Callable[[Pipeline, Advert], None] | None,
    *,
    sort_all: bool,
) -> dict[str, Any]:
    from gateway.setup import (
        ZONES_FILE,
        build_pipeline,
        campaign_warnings_with,
        input_warnings,
        left_out_warnings,
        load_config_dir,
    )

    intervals: list[TruthInterval] = read_truth(truth)
    index = TruthIndex(intervals)
    loaded = load_config_dir(config_dir)
    cfg = loaded.gateway
    # the customers the gateway would know, read once: the pipeline's, the scorer's and the refusals
    listed, listed_from = _customers(cfg.customers_file, cfg.state_dir, scans, on_problem)
    for w in loaded.warnings:  # what config check says of the campaigns (an unreachable rule) explains a score
        on_problem(w)
    for w in campaign_warnings_with(loaded, segments={s for c in listed if c.consent for s in c.segments}):
        on_problem(w)  # a segment none of these customers has: its campaign has nothing to score
    people = [c for c in listed if c.consent]
    pipeline = build_pipeline(loaded, customers=[c for c in listed if c.consent])  # history in memory
    expected_engine = ExpectedTriggers(loaded, index, pipeline.resolver.segments)
    day = _DayScore(index)
    sender = Resolver(people, token_company_id=cfg.recognition.token_company_id)
    run = _replay(scans, pipeline, sender, expected_engine, day, on_problem, progress, before_advert, sort_all)

    zones_file = config_dir / ZONES_FILE
    for w in input_warnings(run.header, cfg.store_id, pipeline.tracker.unknown_rx, zones_file):
        on_problem(w)
    _truth_span_problems(truth, scans, intervals, run, on_problem)
    unrecognised = _recognition_problems(truth, scans, intervals, listed, pipeline, run, on_problem)
    for w in left_out_warnings(pipeline.left_out_s):
        on_problem(w)
    if (unknown := unknown_truth_zones(loaded.zones.classes, intervals, zones_file)) is not None:
        on_problem(f"{truth}: {unknown}")
    if (street := unscorable_outside(loaded.zones.classes, intervals, zones_file)) is not None:
        on_problem(f"{truth}: {street}")
    predicted = run.predicted + _triggers(pipeline.finish(run.t_last))
    level = pipeline.tracker.level.report()  # everyone has left: the whole day's visits
    if level is not None and level["warning"] is not None:
        on_problem(level["warning"])
    expected = _triggers(expected_engine.finish())

    pairs = match_triggers(predicted, expected, TRIGGER_TOLERANCE_S)
    refused = {c.customer_id for c in listed if not c.consent}
    tracked_h = _tracked_hours(intervals, run.t_first, run.t_last)
    scores = day.scores
    stats = run.stats
    delays = [p - e for p, e in pairs]
    return {
        "zone_accuracy": scores.correct / scores.samples if scores.samples else 0.0,
        "samples": scores.samples,
        "trigger_precision": len(pairs) / len(predicted) if predicted else 1.0,
        "trigger_recall": len(pairs) / len(expected) if expected else 1.0,
        "triggers_predicted": len(predicted),
        "triggers_expected": len(expected),
        "triggers_matched": len(pairs),
        "trigger_delay_median_s": _percentile(delays, 0.5),
        "trigger_tolerance_s": TRIGGER_TOLERANCE_S,
        "flaps": scores.flaps,
        "flap_rate_per_hour": scores.flaps / tracked_h if tracked_h > 0 else 0.0,
        "decision_latency_median_s": _percentile(scores.latencies, 0.5),
        "decision_latency_p90_s": _percentile(scores.latencies, 0.9),
        "stays_decided": len(scores.latencies),
        "stays": scores.stays,
        "zone_accuracy_by_zone": {z: c / n for z, (n, c) in sorted(scores.per_zone.items()) if n},
        "presence_events": run.presence_events,
        "adverts": pipeline.stats.adverts,
        "recognised": pipeline.stats.recognised,
        "dropped": pipeline.stats.dropped,
        "skipped_lines": stats.skipped,
        "lines_out_of_time_order": stats.late,
        "customers_seen": len(run.last_seen),
        "truth_devices_unrecognised": len(unrecognised),
        "customers_from": listed_from,  # gateway.toml's customers_file, the registry, or customers.jsonl beside
        "receivers_left_out_s": {rx: round(v, 1) for rx, v in sorted(pipeline.left_out_s.items())},
        "triggers_to_non_consenting": sum(c in refused for c, _, _ in predicted),
        # estimates (and the triggers decided on them) describe a time this much before they are made: the
        # latencies and delays above are in described time, a decision is available this much later
        "smoothing_lag_s": pipeline.tracker.params.smoothing_lag_s,
        # customers' devices against the walk's device: median learnt offset in dB (> 0: louder), None with fewer
        # than MIN_DEVICES visits heard by two receivers or more (gateway/zones/level.py)
        "device_level_vs_walk_db": None if level is None else level["median_db"],
        "device_level_visits": 0 if level is None else level["devices"],
    }
