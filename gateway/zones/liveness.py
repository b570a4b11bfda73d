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

ABSENT_EVIDENCE_NATS = 50.0  # see docs/zones.md, round 22: live receivers stayed far below it on every simulated day
ABSENT_MIN_SILENCE_S = 30.0  # and never on less than this much silence, whatever the devices say


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
