"""Which receivers have stopped hearing devices they should hear.

A receiver node that dies (power, USB adapter, BlueZ wedged, its network) is silent everywhere, and the zone
model reads a silent receiver as "the device is not near me": every shopper is pushed away from its zones. On
the example store, one dead receiver took zone accuracy from 0.84 to 0.63-0.80; scoring without it won most of
that back (docs/zones.md, round 22). The tracker drops what this module reports (ZoneTracker.set_absent).

The test is a likelihood ratio the walk calibrates. While a receiver hears nothing at all, each check (the
pipeline's, every few seconds of advertisement time) adds, for every tracked device, the log-probability that
the receiver would have missed it since the last check if it were alive: the walk's heard probability where the
tracker believes the device is (ZoneTracker.silence_loglik).
A dead receiver's silence has probability 1, so the sum is the evidence against "alive". A receiver in a
corner nobody visits gathers almost none, since the walk says it hears little of the rest of the store; one
beside a busy aisle gathers it within seconds. A receiver is absent once the evidence passes
`threshold_nats` and it has been silent for `min_silence_s`, and back with the first advertisement it hears
(any device's: nothing is kept about whose). A receiver node's own word that it is offline leaves its receiver
out at once (`offline`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.zones.tracker import ZoneTracker

ABSENT_EVIDENCE_NATS = 50.0  # see docs/zones.md, round 22: live receivers stayed far below it on every simulated day
ABSENT_MIN_SILENCE_S = 30.0  # and never on less than this much silence, whatever the devices say
CHECK_EVERY_S = 5.0  # how often receivers are checked for silence: a dead one waits 30 s anyway


class ReceiverLiveness:
    def __init__(
        self,
        receivers: Iterable[str],
        threshold_nats: float = ABSENT_EVIDENCE_NATS,
        min_silence_s: float = ABSENT_MIN_SILENCE_S,
    ) -> None:
        self.threshold = threshold_nats
        self.min_silence_s = min_silence_s
        self._receivers = tuple(receivers)
        # receivers heard since the last update; the pipeline adds to it directly (once per advertisement)
        self.recent: set[str] = set()
        self._since: dict[str, float] = {}  # when each receiver's silence began
        self._evidence: dict[str, float] = {}  # log-probability of that silence if the receiver were alive (<= 0)
        self.absent: frozenset[str] = frozenset()  # by the evidence
        # Receivers whose node has said it is offline (a primary reads the store's status topics): left out at once,
        # without waiting for the evidence, until the node says it is back
        self.offline: frozenset[str] = frozenset()

    @property
    def left_out(self) -> frozenset[str]:
        return self.absent | self.offline

    def heard(self, rx: str) -> None:
        """`rx` heard an advertisement (any device's) since the last update."""
        self.recent.add(rx)

    def update(self, t: float, silence_loglik: Mapping[str, float]) -> frozenset[str]:
        """Advances to `t` with, per receiver, the log-probability that it would have missed every tracked device
        since the last update if it were alive. Returns the receivers absent now."""
        heard = self.recent
        absent = set(self.absent)
        for rx in self._receivers:
            if rx in heard or rx not in self._since:
                self._since[rx] = t
                self._evidence[rx] = 0.0
                absent.discard(rx)
                continue
            ev = self._evidence[rx] = self._evidence[rx] + silence_loglik.get(rx, 0.0)
            if -ev >= self.threshold and t - self._since[rx] >= self.min_silence_s:
                absent.add(rx)
        heard.clear()
        self.absent = frozenset(absent)
        return self.absent

    def reset(self) -> None:
        """A step of the clock: every receiver starts afresh, none absent."""
        self.recent.clear()
        self._since.clear()
        self._evidence.clear()
        self.absent = frozenset()  # a node's offline status stands: it is not about the clock

    def evidence(self, rx: str) -> float:
        """Nats against `rx` being alive (0 while it hears)."""
        return -self._evidence.get(rx, 0.0)

    def silent_for(self, rx: str, t: float) -> float:
        """Seconds of advertisement time since `rx` last heard anything (0 if not followed yet)."""
        return t - self._since.get(rx, t)


class ReceiverWatch:
    """A tracker's receivers watched as the pipeline and `calibrate evaluate` run it: every advertisement is a sign
    of life of its receiver (`heard`, a stranger's too: nothing about it is kept), and every CHECK_EVERY_S of
    advertisement time (`check`, when `due`) the silent ones' evidence is weighed and the tracker told which to
    score without. How long each was left out is kept for the warnings."""

    def __init__(self, tracker: ZoneTracker) -> None:
        self.tracker = tracker
        self.liveness = ReceiverLiveness(tracker.model.receivers)
        self.heard = self.liveness.recent.add  # once per advertisement: the bound method, not a call through
        self.left_out_s: dict[str, float] = {}  # advertisement time each receiver was scored without, in total
        self._t: float | None = None

    def due(self, t: float) -> bool:
        return self._t is None or t - self._t >= CHECK_EVERY_S

    def check(self, t: float) -> None:
        last, self._t = self._t, t
        tracker = self.tracker
        loglik: dict[str, float] = {}
        if last is not None and t > last:
            loglik = tracker.silence_loglik(t, t - last)
            for rx in tracker.absent:
                self.left_out_s[rx] = self.left_out_s.get(rx, 0.0) + (t - last)
        self.liveness.update(t, loglik)
        self._leave_out()

    def offline(self, nodes: Iterable[str]) -> None:
        """The receiver nodes that say they are offline (a primary's status topics): their receivers are left out
        at once rather than after their silence has been weighed."""
        offline = frozenset(nodes) & frozenset(self.tracker.model.receivers)
        if offline != self.liveness.offline:
            self.liveness.offline = offline
            self._leave_out()

    def reset(self) -> None:
        """A step of the clock: every receiver starts afresh (a node's own offline word stands)."""
        self._t = None
        self.liveness.reset()
        self._leave_out()

    def _leave_out(self) -> None:
        left_out = self.liveness.left_out
        if left_out != self.tracker.absent:
            self.tracker.set_absent(left_out)
