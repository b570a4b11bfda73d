"""A labelled walk's truth against its recording: the checks that make a fit fail with a reason, or warn.

Each problem is named for the person who recorded the walk: which interval, zone or line, and what to do about it
(walk longer, put a receiver in reach, record again, fix a clock). `CalibrationError.about` says which file is at
fault, so a command can name it."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.adverts import Advert
from gateway.truth import TruthInterval
from gateway.zones.estimate import OUTSIDE
from gateway.zones.samples import Reading


class CalibrationError(Exception):
    """The walk cannot produce a model (or cannot be scored); the message says what is missing, and `about`
    which input is at fault ("scans" or "truth"), so a command can name the file."""

    def __init__(self, message: str, *, about: str = "scans") -> None:
        super().__init__(message)
        self.about = about


ADJACENT_GAP_S = 30.0  # intervals closer than this are one walk moving on: the change is a real zone change


class Intervals:
    """Per device, sorted intervals; finds the interval covering t (zone and fold)."""

    def __init__(self, truth: Sequence[TruthInterval]) -> None:
        per: dict[str, list[TruthInterval]] = {}
        for iv in truth:
            per.setdefault(iv.device, []).append(iv)
        self.ivs = {d: sorted(v, key=lambda iv: iv.t_start) for d, v in per.items()}
        self.starts = {d: [iv.t_start for iv in v] for d, v in self.ivs.items()}

    def at(self, device: str, t: float) -> TruthInterval | None:
        starts = self.starts.get(device)
        if not starts:
            return None
        i = bisect.bisect_right(starts, t) - 1
        ivs = self.ivs[device]
        for j in range(i, max(i - 3, -1), -1):
            if ivs[j].t_start <= t <= ivs[j].t_end:
                return ivs[j]
        return None


OVERLAP_TOLERANCE_S = 1.0  # a walker's intervals may touch; more than this is two zones at once


def overlap_warning(truth: Sequence[TruthInterval]) -> str | None:
    """Intervals of one device that overlap in time (a labelling mistake in a walk): named, for a warning."""
    found = []
    for device, ivs in Intervals(truth).ivs.items():
        # against the earlier interval that reaches furthest, not only the one before: a long interval typed with
        # a wrong end overlaps every one it covers
        reach = ivs[0]  # a device is indexed with its intervals: never an empty list
        for b in ivs[1:]:
            if b.t_start < reach.t_end - OVERLAP_TOLERANCE_S and reach.zone != b.zone:
                found.append((device, reach, b))
            if b.t_end > reach.t_end:
                reach = b
    if not found:
        return None
    device, a, b = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (
        f"truth intervals of {device} overlap: {a.zone!r} {a.t_start:.1f}..{a.t_end:.1f} and {b.zone!r} "
        f"{b.t_start:.1f}..{b.t_end:.1f}{more}; readings in an overlap are labelled with the later one"
    )


def check_time_span(adverts: Sequence[Advert], truth: Sequence[TruthInterval]) -> list[TruthInterval]:
    """Every zone's truth interval must lie within the recording's time span or continue, without a pause
    longer than ADJACENT_GAP_S, a walk that does: otherwise it belongs to another recording, and that is an
    error. The intervals that only continue one (the device not heard yet at the walk's start, or no more at
    its end: a quiet tag, weak receivers) are returned for a warning. `outside` is exempt: the street may be
    out of every receiver's range, so a walk that ends outside can end its recording before its last interval."""
    if not adverts:
        raise CalibrationError("the recording holds no advertisement")
    outside = outside_span(adverts, truth)
    if not outside:
        return []
    lo, hi = span(adverts)
    walked = set(map(id, _walks_in_span(truth, lo, hi)))
    stray = [iv for iv in outside if id(iv) not in walked]
    if stray or len(outside) == sum(iv.zone != OUTSIDE for iv in truth):
        iv = (stray or outside)[0]
        raise CalibrationError(
            # milliseconds: a zero-length interval 15 ms before the first advert read "200.0..200.0 lies outside
            # 200.0..2722.0" at one decimal
            f"truth interval {iv.zone!r} {iv.t_start:.3f}..{iv.t_end:.3f} lies outside the recording's "
            f"time span {lo:.3f}..{hi:.3f}{_clock_hint(truth, lo)}",
            about="truth",
        )
    return outside


def _clock_hint(truth: Sequence[TruthInterval], lo: float) -> str:
    """A truth whose first interval starts whole hours from the recording's first advertisement was written on
    another clock: local time for UTC, most likely (time zones differ by whole hours, a few by half hours)."""
    shift = min(iv.t_start for iv in truth) - lo
    hours = shift / 3600
    way = "after" if shift > 0 else "before"
    if abs(hours) < 0.5 or abs(hours * 2 - round(hours * 2)) > 0.05:
        if abs(shift) <= ADJACENT_GAP_S:
            return ""
        return f"; the truth starts {abs(shift):.0f} s {way} the recording: of the same walk, on the same clock?"
    return (
        f"; the truth starts {abs(round(hours * 2) / 2):g} h {way} the recording: truth times written in local time "
        "rather than UTC (seconds since the Unix epoch)?"
    )


def _walks_in_span(truth: Sequence[TruthInterval], lo: float, hi: float) -> list[TruthInterval]:
    """The intervals of every walk (one device's intervals without a pause longer than ADJACENT_GAP_S) that
    overlaps the time span lo..hi."""
    out: list[TruthInterval] = []
    for ivs in Intervals(truth).ivs.values():
        walk: list[TruthInterval] = []
        end = -math.inf
        for iv in [*ivs, None]:
            if walk and (iv is None or iv.t_start - end > ADJACENT_GAP_S):
                if any(w.t_end >= lo and w.t_start <= hi for w in walk):
                    out.extend(walk)
                walk, end = [], -math.inf
            if iv is not None:
                walk.append(iv)
                end = max(end, iv.t_end)
    return out


def span(adverts: Sequence[Advert]) -> tuple[float, float]:
    return min((a.t for a in adverts), default=math.inf), max((a.t for a in adverts), default=-math.inf)


def outside_span(adverts: Sequence[Advert], truth: Sequence[TruthInterval]) -> list[TruthInterval]:
    """The zone intervals (not `outside`) that do not overlap the recording's time span at all."""
    lo, hi = span(adverts)
    return [iv for iv in truth if iv.zone != OUTSIDE and (iv.t_end < lo or iv.t_start > hi)]


def unknown_truth_zones(classes: Sequence[str], truth: Sequence[TruthInterval], zones: object) -> str | None:
    """A warning naming the truth's zones that the zones file lacks, with the zone each may have meant: a truth
    written by hand with "Produce" for produce had every sample of the zone counted wrong, and the warning left the
    reader to spot the capital."""
    unknown = sorted({iv.zone for iv in truth} - set(classes) - {OUTSIDE})
    if not unknown:
        return None
    folded = {c.strip().casefold(): c for c in classes}
    shown = ", ".join(
        repr(z) + (f" (did you mean {meant!r}?)" if (meant := folded.get(z.strip().casefold())) else "")
        for z in unknown
    )
    return f"zones not in {zones}: {shown}; their samples count as wrong"


def unscorable_outside(classes: Sequence[str], truth: Sequence[TruthInterval], zones: object) -> str | None:
    """A warning when the truth has `outside` stays a model without an outside class can never answer (SPEC
    section 5 allows `outside` in every truth; it is no zone of zones.toml that is missing)."""
    if OUTSIDE in classes or not any(iv.zone == OUTSIDE for iv in truth):
        return None
    return (
        f"{zones} has no 'outside' class (its walk had no outside part, or none a receiver heard), so the model never "
        "answers 'outside': the truth's outside samples count as wrong"
    )


def zone_spelling_problem(truth: Sequence[TruthInterval]) -> str | None:
    """Zone names that differ only in case or surrounding spaces (`calibrate record --zone Bakery` one day,
    `--zone bakery` the next) would be fitted as two zones, each with part of the walk; a name with spaces at
    either end matches no campaign's zone."""
    spellings: dict[str, dict[str, int]] = {}  # folded name -> spelling -> the first line it is on
    for iv in truth:
        spellings.setdefault(iv.zone.strip().casefold(), {}).setdefault(iv.zone, iv.line)
    for names in spellings.values():
        if len(names) > 1:
            shown = [_at_line(name, line) for name, line in names.items()]
            more = f" (and {len(shown) - 2} more)" if len(shown) > 2 else ""
            return (
                f"field 'zone': {' and '.join(shown[:2])}{more} differ only in case or spaces: "
                "use one spelling for one zone"
            )
    for names in spellings.values():
        name, line = next(iter(names.items()))
        if name != name.strip():
            return (
                f"field 'zone': {_at_line(name, line)} starts or ends with a space: no campaign's zone would match it"
            )
    return None


def _at_line(zone: str, line: int) -> str:
    return f"{zone!r} (line {line})" if line else repr(zone)


def zone_name_warnings(truth: Sequence[TruthInterval], zone_positions: dict[str, Any] | None) -> list[str]:
    """The truth's zones against the recording header's: a misspelt label, or a zone the walk left out."""
    listed = set(zone_positions or {}) - {OUTSIDE}
    if not listed:
        return []
    first_line: dict[str, int] = {}
    for iv in truth:
        first_line.setdefault(iv.zone, iv.line)
    out = []
    if unlisted := sorted(set(first_line) - listed - {OUTSIDE}):
        out.append(
            f"truth zones not among the recording header's zones: "
            f"{', '.join(_at_line(z, first_line[z]) for z in unlisted)}; check the spelling "
            "(they are fitted as zones of their own)"
        )
    if unwalked := sorted(listed - set(first_line)):
        out.append(
            f"zones in the recording header that the walk never labels: {', '.join(unwalked)}; they are not in "
            "the model (a shopper there is placed in a zone that was walked): walk them and fit again"
        )
    return out


# Fewer seconds with a reading than this on the street is no fingerprint of it (two readings made a simulated
# walk's `outside` class with no labelled step at all): the class is left out, as when nothing was heard there.
MIN_STREET_HEARD_S = 3
MIN_ZONE_WALK_S = 10.0  # a fingerprint from fewer seconds than this is a guess: one standing spot, one facing


def street_check(truth: list[TruthInterval], rs: Sequence[Reading]) -> tuple[list[TruthInterval], list[str]]:
    """The walk's `outside` part: warnings when there is none, or when the device was (almost) not heard there,
    and the truth to fit on, without `outside` in that case (no fingerprint of the street to learn: a shopper
    who leaves is noticed by going quiet)."""
    street = Intervals([iv for iv in truth if iv.zone == OUTSIDE])
    if not street.ivs:
        return truth, [
            "the walk has no 'outside' part: the model has no 'outside' class, so a shopper on the pavement by the "
            "door is placed in the store; walk a zone named 'outside' too (install guide, section 9)"
        ]
    street_s = {int(r.t) for r in rs if street.at(r.device, r.t) is not None}
    if len(street_s) >= MIN_STREET_HEARD_S:
        return truth, []
    held = (
        "the walk's 'outside' intervals hold no advertisement of the device"
        if not street_s
        else f"the device was heard in only {len(street_s)} s of the walk's 'outside' intervals"
    )
    warning = (
        f"{held} (no receiver reaches the street): the model has no 'outside' class, and a shopper who leaves "
        "is noticed by going quiet"
    )
    return [iv for iv in truth if iv.zone != OUTSIDE], [warning]


def zone_walk_seconds(truth: Iterable[TruthInterval]) -> dict[str, float]:
    """How long the walk's truth says each zone was walked."""
    out: dict[str, float] = {}
    for iv in truth:
        out[iv.zone] = out.get(iv.zone, 0.0) + iv.t_end - iv.t_start
    return out


def _walked_enough(walked_s: float) -> bool:
    return walked_s >= 2 * MIN_ZONE_WALK_S


def thin_zone_advice(walked_s: float) -> str:
    """What to do about a zone heard too little: walk it longer or, if it was walked long enough and still
    barely heard, put a receiver in reach (a longer walk will not help then)."""
    if _walked_enough(walked_s):
        return (
            "no receiver reliably reaches it; a receiver in or next to it helps (docs/install-raspberry-pi.md, "
            "section 0)"
        )
    return (
        "walk it for about two minutes, a new spot every five seconds or so (docs/install-raspberry-pi.md, section 9)"
    )


def _unrecorded(zone: str, index: Intervals, span: tuple[float, float]) -> str | None:
    """Why a zone has no sample when the recording is at fault: every one of its truth intervals lies after the
    recording's last advertisement (it stopped early) or before its first (it started late)."""
    ivs = [iv for per in index.ivs.values() for iv in per if iv.zone == zone]
    lo, hi = span
    if ivs and all(iv.t_start > hi for iv in ivs):
        first = min(iv.t_start for iv in ivs)
        # the device heard well before the truth's first interval: the whole truth may be late, not the recording
        start = min(iv.t_start for per in index.ivs.values() for iv in per)
        late = (
            f"; or, if it holds the whole walk, the truth's clock runs ahead: its first interval starts "
            f"{start - lo:.0f} s after the recording does"
            if start - lo > ADJACENT_GAP_S
            else ""
        )
        return (
            f"the recording ends at {hi:.3f}, before the truth's intervals of zone {zone!r} (the first starts at "
            f"{first:.3f}): it stopped before that part of the walk; record the walk again{late}"
        )
    if ivs and all(iv.t_end < lo for iv in ivs):
        last = max(iv.t_end for iv in ivs)
        return (
            f"the recording starts at {lo:.3f}, after the truth's intervals of zone {zone!r} (the last ends at "
            f"{last:.3f}): it started after that part of the walk; record the walk again"
        )
    return None


def zone_amount_checks(
    classes: list[str],
    rs: Sequence[Reading],
    index: Intervals,
    walked_s: dict[str, float],
    span: tuple[float, float],
) -> list[str]:
    """Every class must have been heard; one heard only briefly gets a warning (its fingerprint is thin).
    `span` is the recording's first and last advertisement time."""
    heard_s: dict[str, set[tuple[int, int]]] = {c: set() for c in classes}
    for r in rs:
        iv = index.at(r.device, r.t)
        if iv is not None and iv.zone in heard_s:
            # distinct seconds with a reading, counted from the interval's start: by the clock's seconds a 5 s
            # interval touches six and was "heard in only 6 s"
            heard_s[iv.zone].add((id(iv), int(r.t - iv.t_start)))
    out = []
    for c in classes:
        n = len(heard_s[c])
        if n == 0:
            # a recording that stopped early was blamed on the truth file, whose intervals were right
            if (cut := _unrecorded(c, index, span)) is not None:
                raise CalibrationError(cut, about="scans")
            raise CalibrationError(
                f"no labelled samples for zone {c!r}: the device was not heard while there", about="truth"
            )
        if n < MIN_ZONE_WALK_S:
            walked = walked_s.get(c, 0.0)
            of = (
                f"was walked for {walked:.0f} s but heard in only {n} s of it"
                if _walked_enough(walked)
                else f"was heard in only {n} s of the walk"
            )
            out.append(f"zone {c!r} {of}: its fingerprint rests on few readings; " + thin_zone_advice(walked))
    if len(classes) == 1:
        out.append(f"the walk labels one zone only ({classes[0]!r}): every estimate will be that zone")
    return out
