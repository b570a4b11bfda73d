"""The make_engine fixture: an engine over MemoryHistory (or a given History) with scripted walks."""

from __future__ import annotations

from typing import Any

import pytest
from campaign_script import NO_CAPS, Harness, MakeEngine

from gateway.campaigns import Campaign, CampaignEngine, Caps, MemoryHistory, PresenceSettings
from gateway.campaigns.history import History


@pytest.fixture
def make_engine() -> MakeEngine:
    def make(
        campaigns: list[dict[str, Any]],
        caps: dict[str, Any] | None = None,
        presence: dict[str, Any] | None = None,
        segments: dict[str, set[str]] | None = None,
        history: History | None = None,
        timezone: str = "UTC",
    ) -> Harness:
        segs = segments or {}
        engine = CampaignEngine(
            [Campaign.model_validate(c) for c in campaigns],
            history if history is not None else MemoryHistory(),
            "store-042",
            "gw-1",
            lambda cid: frozenset(segs.get(cid, set())),
            timezone=timezone,
            caps=Caps.model_validate(NO_CAPS if caps is None else caps),
            presence=PresenceSettings.model_validate(presence or {}),
        )
        return Harness(engine)

    return make
