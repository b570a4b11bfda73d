"""Delivery: the SQLite outbox and the MQTT publisher (at least once, across broker outages and gateway crashes).

    outbox = Outbox(state_dir / "outbox.db")
    publisher = Publisher(cfg.mqtt, outbox, cfg.store_id, cfg.gateway_id, __version__, on_consent, on_redemption)
    task = asyncio.create_task(publisher.run())
    outbox.put(trigger_id, topics.trigger(campaign_id), payload, customer_id); publisher.notify()
    ...
    await publisher.drain(timeout_s); await publisher.stop()          # SIGTERM path

Outbox errors (full disk, read-only file) raise `OutboxError`; `gateway.runtime.Runtime.enqueue` keeps scanning
through them: it holds the messages in memory (bounded) and retries. Consumers deduplicate on the trigger id: a
resend carries the same one.
"""

from gateway.delivery.outbox import Outbox, OutboxEntry, OutboxError, OutboxItem
from gateway.delivery.publisher import Publisher
from gateway.delivery.topics import Topics

__all__ = ["Outbox", "OutboxEntry", "OutboxError", "OutboxItem", "Publisher", "Topics"]
