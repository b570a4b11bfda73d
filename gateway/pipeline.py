"""recognise -> locate -> decide, for one advertisement at a time (pure: no I/O, no wall clock).

The pipeline is the same object under live scanning, replay and `proximity-sim evaluate`; only the source
and what happens to the events differ. An advertisement that matches no consenting customer leaves this
function with nothing kept about it: the resolver returns None and the advertisement is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.adverts import Advert
from gateway.zones.estimate import ZoneEstimate
from gateway.zones.liveness import ReceiverWatch

if TYPE_CHECKING:
    from gateway.campaigns.engine import CampaignEngine
    from gateway.campaigns.history import History
    from gateway.identity.models import Customer
    from gateway.identity.resolver import Resolver
    from gateway.zones.tracker import ZoneTracker

SWEEP_INTERVAL_S = 1.0  # how often (in advertisement time) devices that went quiet are checked for departure


class Event(Protocol):
    """What the decide stage emits: a coupon trigger or a presence event."""

    @property
    def customer_id(self) -> str | None: ...  # None: a message about no one customer's data (a revocation notice)

    @property
    def message_id(self) -> str: ...

    @property
    def topic_suffix(self) -> str: ...

    def payload(self) -> dict[str, Any]: ...


@dataclass
class PipelineStats:
    adverts: int = 0
    recognised: int = 0
    dropped: int = 0
    events: int = 0


_NO_EVENTS: tuple[Event, ...] = ()


class Pipeline:
    def __init__(self, resolver: Resolver, tracker: ZoneTracker, engine: CampaignEngine) -> None:
        self.resolver = resolver
        self.tracker = tracker
        self.engine = engine
        self.stats = PipelineStats()
        # Observer for scoring (`proximity-sim evaluate`, `calibrate evaluate`): sees every estimate.
        self.on_estimate: Callable[[str, ZoneEstimate], None] | None = None
        self._next_sweep_t: float | None = None
        self.last_t: float | None = None
        # The tracker hands back the same estimate object until it reclassifies (about twice a second);
        # the campaign engine has nothing new to learn from it again, and most advertisements skip it.
        self._last_estimate: dict[str, ZoneEstimate] = {}
        # Receivers that stopped hearing what the walk says they should are scored without (liveness.py)
        self.watch = ReceiverWatch(tracker)
        self.liveness = self.watch.liveness
        self.left_out_s = self.watch.left_out_s
        self._heard_rx = self.watch.heard

    def process(self, adv: Advert) -> Sequence[Event]:
        stats = self.stats
        stats.adverts += 1
        t = adv.t
        self.last_t = t
        self._heard_rx(adv.rx)
        events: list[Event] | None = None
        if self._next_sweep_t is None or t >= self._next_sweep_t:
            self._next_sweep_t = t + SWEEP_INTERVAL_S
            gone = self._sweep(t)
            if gone:
                events = gone
        customer_id = self.resolver.match(adv)
        if customer_id is None:
            stats.dropped += 1
            return events or _NO_EVENTS
        stats.recognised += 1
        est = self.tracker.observe(customer_id, adv.rx, adv.rssi, t)
        if self.on_estimate is not None:
            self.on_estimate(customer_id, est)
        if self._last_estimate.get(customer_id) is est:
            return events or _NO_EVENTS
        self._last_estimate[customer_id] = est
        decided = self.engine.on_estimate(customer_id, est)
        if decided:
            events = [*events, *decided] if events else list(decided)
        if events:
            stats.events += len(events)
            return events
        return _NO_EVENTS

    def _sweep(self, t: float) -> list[Event]:
        if self.watch.due(t):
            self.watch.check(t)
        out: list[Event] = []
        for device in self.tracker.expire(t):
            self._last_estimate.pop(device, None)
            out.extend(self.engine.on_gone(device, t))
        return out

    def receivers_offline(self, nodes: Iterable[str]) -> None:
        """The receiver nodes that say they are offline: their receivers are left out at once (liveness.py)."""
        self.watch.offline(nodes)

    def tick(self, t: float) -> Sequence[Event]:
        """Advance time without an advertisement (a quiet store still sees people leave)."""
        if self.last_t is not None and t < self.last_t:
            return _NO_EVENTS
        self.last_t = t
        self._next_sweep_t = t + SWEEP_INTERVAL_S
        events = self._sweep(t)
        self.stats.events += len(events)
        return events

    def finish(self, t: float | None = None) -> Sequence[Event]:
        """End of a recording: everyone still tracked leaves (exit events, visit ends)."""
        end = t if t is not None else (self.last_t or 0.0)
        events: list[Event] = []
        for device in self.tracker.expire(float("inf")):
            self._last_estimate.pop(device, None)
            events.extend(self.engine.on_gone(device, end))
        self.stats.events += len(events)
        return events

    def restart(self, t: float | None) -> Sequence[Event]:
        """The wall clock stepped: everyone still tracked leaves at `t`, the last time of the old clock, and the
        next advertisement starts the sweep schedule in the new one. Visits spanning the step would otherwise
        last a day or end before they began, and after a step back nobody would leave until the old time came
        round again."""
        events = self.finish(t)
        self.last_t = None
        self._next_sweep_t = None
        self.watch.reset()
        return events

    def forget(self, customer_id: str) -> None:
        """Revocation: nothing about the customer stays in memory from this moment on."""
        self.resolver.remove(customer_id)
        self.tracker.forget(customer_id)
        self._last_estimate.pop(customer_id, None)
        self.engine.forget(customer_id)

    @classmethod
    def from_config_dir(
        cls,
        config_dir: Path,
        customers: list[Customer] | None = None,
        history: History | None = None,
        now: Callable[[], float] | None = None,
    ) -> Pipeline:
        """A pipeline from a config directory, for offline use (evaluation, tests)."""
        from gateway.setup import build_pipeline, load_config_dir

        loaded = load_config_dir(config_dir)
        return build_pipeline(loaded, customers=customers, history=history, now=now)
