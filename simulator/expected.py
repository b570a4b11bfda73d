"""The triggers the ground truth implies: the real campaign engine, fed the truth instead of estimates.

At every advertisement time of a recognised customer the engine gets that customer's true zone with
confidence 1 ("unknown" where the truth has no zone, such as an aisle between zones), so caps, cooldowns,
segments and schedules apply exactly as in the product; at the end each customer leaves at their last
advertisement. Used by `proximity-sim evaluate` (streaming) and by the end-to-end test (lists).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gateway.adverts import Advert
from gateway.truth import TruthIndex, TruthInterval
from gateway.zones.estimate import UNKNOWN, ZoneEstimate

if TYPE_CHECKING:
    from gateway.campaigns.events import Trigger
    from gateway.identity.models import Customer
    from gateway.setup import LoadedConfig


def _triggers(events: Iterable[object]) -> list[Trigger]:
    from gateway.campaigns.events import Trigger

    return [e for e in events if isinstance(e, Trigger)]


class ExpectedTriggers:
    """Streaming form: call `observe` for each recognised advertisement in time order, then `finish`."""

    def __init__(self, loaded: LoadedConfig, truth: TruthIndex, segments_of: Callable[[str], frozenset[str]]) -> None:
        from gateway.campaigns.engine import CampaignEngine
        from gateway.campaigns.history import MemoryHistory

        cfg = loaded.gateway
        self._engine = CampaignEngine(
            loaded.campaigns,
            MemoryHistory(),
            cfg.store_id,
            cfg.gateway_id,
            segments_of,
            timezone=cfg.timezone,
            caps=loaded.caps,
        )
        self._truth = truth
        self._last_seen: dict[str, float] = {}
        self.triggers: list[Trigger] = []

    def observe(self, customer_id: str, t: float) -> str | None:
        """Feeds the true zone at `t` (returned, None where the truth has none) to the engine."""
        zone = self._truth.zone_at(customer_id, t)
        est = ZoneEstimate(zone if zone is not None else UNKNOWN, 1.0, t)
        self.triggers.extend(_triggers(self._engine.on_estimate(customer_id, est)))
        self._last_seen[customer_id] = t
        return zone

    def finish(self) -> list[Trigger]:
        for customer_id, t in self._last_seen.items():
            self.triggers.extend(_triggers(self._engine.on_gone(customer_id, t)))
        self._last_seen.clear()
        return self.triggers


def consenting_customers(records: Iterable[Customer | Mapping[str, Any]]) -> list[Customer]:
    from gateway.identity.models import Customer

    out = []
    for rec in records:
        customer = rec if isinstance(rec, Customer) else Customer.model_validate(dict(rec))
        if customer.consent:
            out.append(customer)
    return out


def expected_triggers(
    loaded: LoadedConfig,
    customers: Iterable[Customer | Mapping[str, Any]],
    truth: Iterable[TruthInterval],
    adverts: Iterable[Advert],
) -> list[Trigger]:
    """The triggers a perfect zone estimate would give over `adverts` (customers-file records or models)."""
    from gateway.identity.resolver import Resolver

    recognition = loaded.gateway.recognition
    resolver = Resolver(
        consenting_customers(customers), token_company_id=recognition.token_company_id, purposes=recognition.purposes
    )
    expected = ExpectedTriggers(loaded, TruthIndex(truth), resolver.segments)
    for adv in adverts:
        customer_id = resolver.match(adv)
        if customer_id is not None:
            expected.observe(customer_id, adv.t)
    return expected.finish()
