"""Frequency caps: what one customer has already received, and whether another trigger is allowed (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.campaigns.history import TriggerRecord
from gateway.campaigns.model import Campaign, Caps


@dataclass(slots=True)
class Ledger:
    """A customer's recent triggers and redeemed campaigns, loaded once from History and kept in step with it."""

    triggers: list[TriggerRecord] = field(default_factory=list)
    redeemed: set[str] = field(default_factory=set)

    def last_of(self, campaign_id: str) -> float | None:
        times = [r.t for r in self.triggers if r.campaign_id == campaign_id]
        return max(times) if times else None

    def last_any(self) -> float | None:
        return max((r.t for r in self.triggers), default=None)

    def count_day(self, day: str) -> int:
        return sum(1 for r in self.triggers if r.day == day)

    def in_visit(self, visit_id: str) -> list[TriggerRecord]:
        return [r for r in self.triggers if r.visit_id == visit_id]

    def prune(self, before: float) -> None:
        self.triggers = [r for r in self.triggers if r.t >= before]


def blocked_by(
    c: Campaign, caps: Caps, ledger: Ledger, visit_id: str, t: float, day: str, budget_used: int
) -> str | None:
    """Why this campaign may not fire for this customer now, or None. Reasons are counter names."""
    if c.id in ledger.redeemed:
        return "redeemed"
    visit = ledger.in_visit(visit_id)
    if any(r.campaign_id == c.id for r in visit):
        return "once_per_visit"
    last = ledger.last_of(c.id)
    if last is not None and t - last < c.cooldown_s:
        return "cooldown"
    if caps.max_per_visit is not None and len(visit) >= caps.max_per_visit:
        return "max_per_visit"
    last_any = ledger.last_any()
    if last_any is not None and t - last_any < caps.min_interval_s:
        return "min_interval"
    if caps.max_per_day is not None and ledger.count_day(day) >= caps.max_per_day:
        return "max_per_day"
    if c.budget_per_day is not None and budget_used >= c.budget_per_day:
        return "budget"
    return None
