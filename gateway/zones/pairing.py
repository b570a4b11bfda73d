"""Pairs labelled samples with the zone estimate that describes their time, for scoring.

A sample at advertisement time s is scored against the estimate with the latest described time `est.t <= s`
(unknown when there is none). With the tracker's fixed-lag smoother the estimate returned right after an
advertisement describes a time about `smoothing_lag_s` earlier; the estimate describing s arrives later. So
samples wait per device until an estimate describing a later time arrives (then the one before it is theirs),
or until the device ends (`end`: the tracker dropped it) or the run ends (`flush`).

With the forward filter alone (lag 0) the estimate describing an advertisement comes at the device's next one (the
tracker classifies a packet once every receiver's reading of it is in), so a sample gets the estimate of its own
packet, or of the last one classified before it. A sample that arrives when the current estimate already describes
a later time (its advertisement came out of order) takes that current estimate: older ones are not kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from gateway.zones.estimate import UNKNOWN, ZoneEstimate

T = TypeVar("T")


class _Pending(Generic[T]):
    __slots__ = ("est", "item", "open", "t")

    def __init__(self, t: float, item: T, est: ZoneEstimate | None, open_: bool) -> None:
        self.t = t
        self.item = item
        self.est = est
        self.open = open_  # still waiting for an estimate describing a later time


class _Device(Generic[T]):
    __slots__ = ("latest", "pending")

    def __init__(self) -> None:
        self.latest: ZoneEstimate | None = None
        self.pending: deque[_Pending[T]] = deque()


class EstimatePairing(Generic[T]):
    """Feed it, in stream order, every new estimate per device (`estimate`) and every labelled sample
    (`sample`); `on_pair(device, t, item, estimate)` is called once per sample, per device in the order the
    samples came. A sample with no estimate describing its time or earlier gets `ZoneEstimate(UNKNOWN, 0, t)`.
    """

    def __init__(self, on_pair: Callable[[str, float, T, ZoneEstimate], None]) -> None:
        self._on_pair = on_pair
        self._devices: dict[str, _Device[T]] = {}

    def estimate(self, device: str, est: ZoneEstimate) -> None:
        """A device's current estimate (the same object again is ignored)."""
        dev = self._devices.get(device)
        if dev is None:
            dev = self._devices[device] = _Device()
        if est is dev.latest:
            return
        if dev.pending:
            for p in dev.pending:
                if p.open and p.t < est.t:
                    p.est, p.open = dev.latest, False
            self._emit_closed(device, dev)
        dev.latest = est

    def sample(self, device: str, t: float, item: T) -> None:
        dev = self._devices.get(device)
        if dev is None:
            dev = self._devices[device] = _Device()
        latest = dev.latest
        if latest is not None and latest.t > t:
            dev.pending.append(_Pending(t, item, latest, False))
            self._emit_closed(device, dev)
        else:
            dev.pending.append(_Pending(t, item, latest, True))

    def end(self, device: str) -> None:
        """The device has no estimate any more (expired, or not tracked): its waiting samples take the latest
        estimate they had, and later samples start afresh."""
        dev = self._devices.pop(device, None)
        if dev is not None:
            for p in dev.pending:
                if p.open:
                    p.est, p.open = dev.latest, False
            self._emit_closed(device, dev)

    def flush(self) -> None:
        """End of the run: every waiting sample takes the latest estimate of its device."""
        for device in list(self._devices):
            self.end(device)

    def waiting(self) -> int:
        return sum(len(d.pending) for d in self._devices.values())

    def _emit_closed(self, device: str, dev: _Device[T]) -> None:
        pending = dev.pending
        while pending and not pending[0].open:
            p = pending.popleft()
            est = p.est if p.est is not None else ZoneEstimate(UNKNOWN, 0.0, p.t)
            self._on_pair(device, p.t, p.item, est)


class SampleTimes:
    """SPEC section 5: a labelled sample is a (device, time). One advertisement heard by several receivers is one
    sample however many lines carry it (scored per line, a spot every receiver hears counted five times over
    one heard by one). The copies carry the same time and come within a few lines of each other per device."""

    RECENT = 16  # times remembered per device: more than the receivers that can hear one advertisement

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}

    def first(self, device: str, t: float) -> bool:
        """True the first time (device, t) is seen."""
        recent = self._recent.get(device)
        if recent is None:
            recent = self._recent[device] = deque(maxlen=self.RECENT)
        elif t in recent:
            return False
        recent.append(t)
        return True
