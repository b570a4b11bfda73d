"""Continuous presence of one customer during one visit, from a stream of zone estimates (pure).

An *episode* in zone Z runs from the first estimate in Z while the gap since the last estimate in Z stays within
`gap_tolerance_s`: a reception gap, a few UNKNOWN estimates or a one-estimate flicker to the neighbour zone do not
end it; a longer absence does. Dwell is `t - episode.start`.

Leaving is judged on evidence: estimates in another zone (or outside) end Z once they come more than
`gap_tolerance_s` after the last estimate in Z; silence or UNKNOWN, which say nothing about leaving, end it only
after `unknown_tolerance_s`. Both tolerances stretch to the customer's own estimate interval, learnt from the
stream, so a phone heard once every 30 s can still dwell (with fixed tolerances it would restart at each advert).

A *stay* is the presence that enter/exit events report: an episode that lasted `settle_s` becomes the stay when
no other stay is running, so stays never overlap and a flicker never produces enter/exit noise.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from gateway.campaigns.model import PresenceSettings
from gateway.zones.estimate import OUTSIDE, UNKNOWN


@dataclass(slots=True)
class Episode:
    zone: str
    start: float
    last: float
    confidence: float  # of the latest estimate in the zone
    established: bool = False
    entered_at: float = 0.0  # for stays: start, or the previous stay's exit if they overlapped

    @property
    def dwell_s(self) -> float:
        return self.last - self.start


@dataclass(slots=True)
class Change:
    exited: list[Episode] = field(default_factory=list)  # stays that ended, oldest first
    entered: Episode | None = None  # the stay established by this estimate
    episode: Episode | None = None  # the episode the estimate extended or began (None for OUTSIDE/UNKNOWN)


INTERVAL_SAMPLES = 9  # recent gaps between estimates; their median is the customer's typical interval
CONTRARY_INTERVALS = 1.5  # one estimate elsewhere between two in Z is a flicker; two in a row are a move
SILENT_INTERVALS = 3.0  # two missed adverts in a row are ordinary radio loss
# several receivers report one advertisement within a second or two of each other: those gaps say nothing
# about how often the phone advertises, and would drag the median to zero for a slow phone in a dense store
SAME_ADVERT_S = 1.0


def is_store_zone(zone: str) -> bool:
    return zone not in (OUTSIDE, UNKNOWN)


class Presence:
    __slots__ = ("_episodes", "_gaps", "_interval", "_last_exit", "_last_t", "settings", "stay", "stays")

    def __init__(self, settings: PresenceSettings) -> None:
        self.settings = settings
        self._episodes: dict[str, Episode] = {}
        self.stay: Episode | None = None
        self.stays: list[Episode] = []  # every stay of the visit, in order (zone sequences are matched on it)
        self._last_exit: float | None = None
        self._last_t: float | None = None
        self._gaps: deque[float] = deque(maxlen=INTERVAL_SAMPLES)
        self._interval = 0.0

    def _learn_interval(self, t: float) -> None:
        if self._last_t is not None and t - self._last_t >= SAME_ADVERT_S:
            self._gaps.append(t - self._last_t)
            self._interval = sorted(self._gaps)[len(self._gaps) // 2]
        self._last_t = t if self._last_t is None else max(self._last_t, t)

    def tolerances(self) -> tuple[float, float]:
        """(contrary, silent) tolerances in seconds for this customer now."""
        s = self.settings
        return (
            max(s.gap_tolerance_s, CONTRARY_INTERVALS * self._interval),
            max(s.unknown_tolerance_s, SILENT_INTERVALS * self._interval),
        )

    def observe(self, zone: str, t: float, confidence: float) -> Change:
        change = Change()
        self._learn_interval(t)
        contrary, silent = self.tolerances()
        for z, ep in list(self._episodes.items()):
            evidence_elsewhere = zone not in (z, UNKNOWN)
            if t - ep.last > (contrary if evidence_elsewhere else silent):
                del self._episodes[z]
                if ep is self.stay:
                    change.exited.append(self._end_stay())
        if not is_store_zone(zone):
            return change
        found = self._episodes.get(zone)
        if found is None:
            ep = self._episodes[zone] = Episode(zone, t, t, confidence)
        else:
            ep = found
            ep.last = max(ep.last, t)  # receivers interleave by a second or two; never move time backwards
            ep.confidence = confidence
        change.episode = ep
        if self.stay is None and ep.dwell_s >= self.settings.settle_s:
            ep.established = True
            ep.entered_at = ep.start if self._last_exit is None else max(ep.start, self._last_exit)
            self.stay = ep
            self.stays.append(ep)
            change.entered = ep
        return change

    def close(self) -> Episode | None:
        """The visit ends: the running stay (if any) is over."""
        self._episodes.clear()
        return self._end_stay() if self.stay is not None else None

    def _end_stay(self) -> Episode:
        stay = self.stay
        assert stay is not None
        self.stay = None
        self._last_exit = stay.last
        return stay

    def visited_before(self, t: float) -> list[str]:
        """Zones of the stays that began before t, in order."""
        return [s.zone for s in self.stays if s.start < t]


def is_subsequence(needle: tuple[str, ...], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(h == n for h in it) for n in needle)
