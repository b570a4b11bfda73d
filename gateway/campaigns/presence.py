"""Continuous presence of one customer during one visit, from a stream of zone estimates (pure).

An *episode* in zone Z runs from the first estimate in Z while the gap since the last estimate in Z stays within
`gap_tolerance_s`: a reception gap, a few UNKNOWN estimates or a one-estimate flicker to the neighbour zone do not
end it; a longer absence does. Dwell is `t - episode.start`.

A *stay* is the presence that enter/exit events report: an episode that lasted `settle_s` becomes the stay when
no other stay is running, so stays never overlap and a flicker never produces enter/exit noise.
"""

from __future__ import annotations

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


def is_store_zone(zone: str) -> bool:
    return zone not in (OUTSIDE, UNKNOWN)


class Presence:
    __slots__ = ("_episodes", "_last_exit", "settings", "stay", "stays")

    def __init__(self, settings: PresenceSettings) -> None:
        self.settings = settings
        self._episodes: dict[str, Episode] = {}
        self.stay: Episode | None = None
        self.stays: list[Episode] = []  # every stay of the visit, in order (zone sequences are matched on it)
        self._last_exit: float | None = None

    def observe(self, zone: str, t: float, confidence: float) -> Change:
        change = Change()
        tolerance = self.settings.gap_tolerance_s
        for z, ep in list(self._episodes.items()):
            if t - ep.last > tolerance:
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
