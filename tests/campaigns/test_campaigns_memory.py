"""A gateway that runs for months must not remember every visitor in memory (History keeps what caps need)."""

from __future__ import annotations

from pathlib import Path

from gateway.campaigns.engine import CampaignEngine
from gateway.campaigns.history import SqliteHistory
from gateway.campaigns.model import load_campaigns
from gateway.zones.estimate import ZoneEstimate

CAMPAIGNS = """
[caps]
min_interval_s = 0
[[campaign]]
id = "coffee-10"
zone = "coffee"
min_dwell_s = 20
cooldown_s = 86400
"""


def test_engine_memory_stays_flat_over_many_visitors_and_cooldowns_still_hold(tmp_path: Path) -> None:
    (tmp_path / "campaigns.toml").write_text(CAMPAIGNS)
    campaigns, caps, _ = load_campaigns(tmp_path / "campaigns.toml", zones={"coffee", "bakery"})
    history = SqliteHistory(tmp_path / "history.db")
    engine = CampaignEngine(campaigns, history, "s", "g", lambda _c: frozenset(), caps=caps)
    t = 1_800_000_000.0
    fired = []
    for visitor in range(600):
        cid = f"cust-{visitor % 300:04d}"  # each customer comes twice, hours apart
        for step in range(40):  # 40 s in the coffee aisle
            fired += [
                e for e in engine.on_estimate(cid, ZoneEstimate("coffee", 0.95, t + step)) if hasattr(e, "campaign_id")
            ]
        engine.on_gone(cid, t + 60)
        t += 120 if visitor < 299 else 3 * 3600 if visitor == 299 else 120
    assert len(engine._customers) <= 8, len(engine._customers)
    # the second visit of each customer, a few hours later, is inside the one-day cooldown: no second coupon
    assert len(fired) == 300 and len({e.customer_id for e in fired}) == 300
    history.close()
