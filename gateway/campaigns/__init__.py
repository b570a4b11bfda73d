"""Campaign rules, presence (enter/exit/dwell), caps and trigger decisions."""

from gateway.campaigns.engine import CampaignEngine
from gateway.campaigns.events import Event, PresenceEvent, Trigger
from gateway.campaigns.history import History, MemoryHistory, SqliteHistory
from gateway.campaigns.model import Campaign, CampaignsError, Caps, LoadedCampaigns, PresenceSettings, load_campaigns

__all__ = [
    "Campaign",
    "CampaignEngine",
    "CampaignsError",
    "Caps",
    "Event",
    "History",
    "LoadedCampaigns",
    "MemoryHistory",
    "PresenceEvent",
    "PresenceSettings",
    "SqliteHistory",
    "Trigger",
    "load_campaigns",
]
