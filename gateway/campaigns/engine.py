"""The decide stage: zone estimates of consenting customers in, presence events and coupon triggers out.

Pure apart from the History it is given: time is the advertisement's `t`; the wall clock (`now`) is only
stamped into `created_at`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gateway.campaigns.caps import Ledger, blocked_by
from gateway.campaigns.events import Event, PresenceEvent, Trigger, stable_id, trigger_id_for
from gateway.campaigns.history import History, RedemptionRecord, StayRecord, TriggerRecord
from gateway.campaigns.model import Campaign, Caps, PresenceSettings
from gateway.campaigns.presence import Episode, Presence, is_subsequence
from gateway.campaigns.schedule import is_active, local_day, store_zone
from gateway.identity.models import parse_timestamp
from gateway.logs import log_each
from gateway.zones.estimate import OUTSIDE, UNKNOWN, ZoneEstimate

log = logging.getLogger(__name__)

LEDGER_MIN_LOOKBACK_S = 2 * 86400  # covers "today" in any time zone plus the visit that straddles midnight


def lookback_s(campaigns: Iterable[Campaign], caps: Caps) -> float:
    """How far back the caps and cooldowns read a customer's triggers (history keeps them at least this long)."""
    longest = max((c.cooldown_s for c in campaigns), default=0.0)
    return max(longest, caps.min_interval_s, LEDGER_MIN_LOOKBACK_S)


@dataclass(slots=True)
class _Visit:
    visit_id: str
    last_in_store: float
    presence: Presence
    fired: set[str] = field(default_factory=set)  # campaign ids sent this visit: the hot path skips them cheaply


@dataclass(slots=True)
class _Customer:
    ledger: Ledger
    visit: _Visit | None = None
    pending_exits: list[Episode] = field(default_factory=list)
    # a customer first met by this engine may be mid-visit across a restart: resume the visit of a recent trigger
    may_resume: bool = True


_Candidate = tuple[Campaign, Episode, float]  # campaign, the episode it is about, dwell_s
IDLE_SWEEP_EVERY = 256  # departures between sweeps for customers who left with a then-recent coupon


class CampaignEngine:
    def __init__(
        self,
        campaigns: list[Campaign],
        history: History,
        store_id: str,
        gateway_id: str,
        segments_of: Callable[[str], frozenset[str]],
        timezone: str = "UTC",
        now: Callable[[], float] | None = None,
        *,
        caps: Caps | None = None,
        presence: PresenceSettings | None = None,
    ) -> None:
        self.history = history
        self.store_id = store_id
        self.gateway_id = gateway_id
        self._segments_of = segments_of
        self._tz = store_zone(timezone)
        self._now = now
        self._customers: dict[str, _Customer] = {}
        self._gone_count = 0
        self._budget: dict[tuple[str, str], int] = {}
        self.stats: Counter[str] = Counter()  # counters only: never identifiers
        self.caps = caps or Caps()
        self.presence = presence or self.caps.presence
        self.campaigns: list[Campaign] = []
        self._by_rule: dict[tuple[str, str], list[Campaign]] = {}
        self._order: dict[str, int] = {}
        self.reload(campaigns)

    def reload(
        self, campaigns: list[Campaign], caps: Caps | None = None, presence: PresenceSettings | None = None
    ) -> None:
        """New rules (SIGHUP); presence, visits and cap state are kept. Presence settings come from `presence`,
        else from `caps.presence`."""
        self.campaigns = [c for c in campaigns if c.enabled]
        self._order = {c.id: i for i, c in enumerate(self.campaigns)}
        self._by_rule = {}
        for c in self.campaigns:
            self._by_rule.setdefault((c.zone, c.on), []).append(c)
        if caps is not None:
            self.caps = caps
            presence = presence or caps.presence
        if presence is not None:
            self.presence = presence
            for st in self._customers.values():
                if st.visit is not None:
                    st.visit.presence.settings = presence

    # --- inputs -------------------------------------------------------------------------------------------

    def on_estimate(self, customer_id: str, est: ZoneEstimate) -> list[Event]:
        t = est.t
        st = self._customer(customer_id, t)
        events: list[Event] = []
        if st.visit is not None and t - st.visit.last_in_store > self.presence.visit_timeout_s:
            # a long absence the zone stage did not report: the old visit is over, its exits are stale
            events += self._end_visit(customer_id, st, t, fire_exits=False)
        in_store = est.zone != OUTSIDE
        if st.visit is None:
            if not in_store:
                return events
            st.visit = self._start_visit(customer_id, st, t)
        visit = st.visit
        if in_store:
            visit.last_in_store = max(visit.last_in_store, t)
        change = visit.presence.observe(est.zone, t, est.confidence)
        candidates: list[_Candidate] = []
        for stay in change.exited:
            events.append(self._exit_event(customer_id, visit, stay))
            st.pending_exits.append(stay)
        if est.zone != UNKNOWN and st.pending_exits:
            # an exit is only certain once the customer is confidently somewhere else; back in the zone = no exit
            for stay in st.pending_exits:
                if stay.zone != est.zone:
                    candidates += self._rules(stay, "exit", stay.dwell_s)
            st.pending_exits.clear()
        if change.entered is not None:
            ep = change.entered
            events.append(PresenceEvent(self.store_id, customer_id, ep.zone, "enter", ep.entered_at, ep.dwell_s))
            candidates += self._rules(ep, "enter", ep.dwell_s)
        if change.episode is not None:
            ep = change.episode
            candidates += self._rules(ep, "dwell", t - ep.start)
        events += self._decide(customer_id, st, visit, candidates, t, est.confidence)
        return events

    def on_gone(self, customer_id: str, t: float) -> list[Event]:
        st = self._customers.get(customer_id)
        if st is None or st.visit is None:
            return []
        events = self._end_visit(customer_id, st, t, fire_exits=True)
        self._gone_count += 1
        if self._gone_count % IDLE_SWEEP_EVERY == 0:
            for cid in [c for c, s in self._customers.items() if s.visit is None and self._reloadable(s, t)]:
                del self._customers[cid]
        elif self._reloadable(st, t):
            del self._customers[customer_id]
        return events

    def _reloadable(self, st: _Customer, t: float) -> bool:
        """True when History would give this customer's state back identically: no coupon recent enough to
        resume a visit from (redemptions and older coupons are stored). Forgetting such customers keeps a
        gateway that runs for months from remembering every visitor."""
        return not st.ledger.triggers or t - st.ledger.triggers[-1].t > self.presence.visit_timeout_s

    def on_redemption(self, msg: object) -> None:
        rec = _redemption(msg)
        if isinstance(rec, str):
            self.stats["redemptions_ignored"] += 1
            log_each(log, logging.WARNING, "ignored redemption message: %s", rec)
            return
        self.history.add_redemption(rec)
        self.stats["redemptions"] += 1
        st = self._customers.get(rec.customer_id)
        if st is not None:
            st.ledger.redeemed.add(rec.campaign_id)

    def forget(self, customer_id: str) -> None:
        """Revocation: drop everything held in memory (the caller deletes the stored history)."""
        self._customers.pop(customer_id, None)

    def flush(self) -> None:
        self.history.flush()

    # --- internals ----------------------------------------------------------------------------------------

    def _customer(self, customer_id: str, t: float) -> _Customer:
        st = self._customers.get(customer_id)
        if st is None:
            since = t - self.lookback_s()
            ledger = Ledger(
                self.history.triggers_of(customer_id, since), set(self.history.redeemed_campaigns(customer_id))
            )
            st = self._customers[customer_id] = _Customer(ledger)
        return st

    def lookback_s(self) -> float:
        """How far back the caps read a customer's triggers: history pruning keeps at least this much."""
        return lookback_s(self.campaigns, self.caps)

    def _start_visit(self, customer_id: str, st: _Customer, t: float) -> _Visit:
        st.ledger.prune(t - self.lookback_s())
        visit_id = None
        if st.may_resume and st.ledger.triggers:
            last = st.ledger.triggers[-1]
            if 0 <= t - last.t <= self.presence.visit_timeout_s:
                visit_id = last.visit_id
        st.may_resume = False
        if visit_id is None:
            visit_id = stable_id("visit", self.store_id, customer_id, float(t))
        fired = {r.campaign_id for r in st.ledger.in_visit(visit_id)}
        return _Visit(visit_id, t, Presence(self.presence), fired)

    def _end_visit(self, customer_id: str, st: _Customer, t: float, fire_exits: bool) -> list[Event]:
        visit = st.visit
        assert visit is not None
        events: list[Event] = []
        stay = visit.presence.close()
        if stay is not None:
            events.append(self._exit_event(customer_id, visit, stay))
            st.pending_exits.append(stay)
        if fire_exits:
            for ep in st.pending_exits:  # usually one; each carries the confidence of its own last estimate
                events += self._decide(customer_id, st, visit, self._rules(ep, "exit", ep.dwell_s), t, ep.confidence)
        st.pending_exits.clear()
        st.visit = None
        return events

    def _exit_event(self, customer_id: str, visit: _Visit, stay: Episode) -> PresenceEvent:
        self.history.add_stay(StayRecord(customer_id, visit.visit_id, stay.zone, stay.entered_at, stay.last))
        return PresenceEvent(self.store_id, customer_id, stay.zone, "exit", stay.last, stay.last - stay.entered_at)

    def _rules(self, ep: Episode, on: str, dwell: float) -> list[_Candidate]:
        rules = self._by_rule.get((ep.zone, on), ())
        return [(c, ep, dwell) for c in rules if dwell >= c.min_dwell_s]

    def _decide(
        self, customer_id: str, st: _Customer, visit: _Visit, candidates: list[_Candidate], t: float, confidence: float
    ) -> list[Event]:
        candidates = [x for x in candidates if x[0].id not in visit.fired and x[0].id not in st.ledger.redeemed]
        if not candidates:
            return []
        candidates.sort(key=lambda x: (-x[0].priority, self._order[x[0].id]))
        segments: frozenset[str] | None = None
        day = local_day(t, self._tz)
        out: list[Event] = []
        for c, ep, dwell in candidates:
            if confidence < c.min_confidence or not is_active(c.schedule, t, self._tz):
                continue
            if c.required_before and not is_subsequence(c.required_before, visit.presence.visited_before(ep.start)):
                continue
            if segments is None:
                segments = self._segments_of(customer_id)
            if not c.audience_matches(segments):
                continue
            used = self._budget_used(c.id, day)
            if blocked_by(c, self.caps, st.ledger, visit.visit_id, t, day, used) is not None:
                continue
            tid = trigger_id_for(self.store_id, customer_id, c.id, ep.start)
            rec = TriggerRecord(tid, customer_id, c.id, t, visit.visit_id, day)
            st.ledger.triggers.append(rec)
            visit.fired.add(c.id)
            self._budget[(c.id, day)] = used + 1
            self.history.add_trigger(rec)
            self.stats["triggers"] += 1
            created = self._now() if self._now is not None else t
            out.append(
                Trigger(
                    tid, self.store_id, self.gateway_id, customer_id, c.id, ep.zone, dwell, t, created,
                    confidence, visit.visit_id, c.offer, c.priority,
                )
            )  # fmt: skip
        return out

    def _budget_used(self, campaign_id: str, day: str) -> int:
        key = (campaign_id, day)
        if key not in self._budget:
            # Another day's counts are not read again (the history has them, should a clock step go back): keep
            # today's only, not a year of campaigns x days.
            self._budget = {k: n for k, n in self._budget.items() if k[1] == day}
            self._budget[key] = self.history.campaign_day_count(campaign_id, day)
        return self._budget[key]


def _redemption(msg: object) -> RedemptionRecord | str:
    """The redemption a payload records, or one line saying why it is unusable (no identifiers in it). A point of
    sale may write `at` as ISO 8601 or a number in quotes: read as the customers file reads its times (a redemption
    dropped for it left the redeemed coupon on offer)."""
    if not isinstance(msg, dict):
        return "payload is not a JSON object"
    for key in ("trigger_id", "customer_id", "campaign_id"):
        v = msg.get(key)
        if not isinstance(v, str) or not v:
            return f"field '{key}' missing or not a non-empty string"
    try:
        at = parse_timestamp(msg.get("at"))
    except ValueError:
        at = None
    if at is None:
        return "field 'at' missing or not a time (epoch seconds, or ISO 8601 such as 2026-11-30T10:00:00Z)"
    return RedemptionRecord(msg["trigger_id"], msg["customer_id"], msg["campaign_id"], at)
