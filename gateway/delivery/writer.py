"""How the pipeline hands messages to the outbox without stopping when the outbox cannot be written.

A full disk or a read-only state directory makes `Outbox.put` raise `OutboxError`. The daemon must keep
scanning (presence, consent and revocations still matter), so `OutboxWriter.submit` holds such messages in
memory, in order, and `retry()` (call it on a timer, e.g. every few seconds, and it is also tried on every
submit) writes them once the outbox accepts writes again. Memory is bounded: beyond `max_held` the oldest held
message is dropped and counted in `dropped`, the one place where a trigger can be lost, and only when the disk
has been unwritable for a long time.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from gateway.delivery.outbox import Outbox, OutboxEntry, OutboxError

log = logging.getLogger(__name__)

DEFAULT_MAX_HELD = 10_000  # about 5 MB of triggers: hours of a busy store's output


class OutboxWriter:
    def __init__(self, outbox: Outbox, max_held: int = DEFAULT_MAX_HELD) -> None:
        self._outbox = outbox
        self._held: deque[OutboxEntry] = deque()
        self._max_held = max_held
        self.dropped = 0
        self.last_error: str | None = None

    @property
    def held(self) -> int:
        """Messages waiting in memory for the outbox to accept writes."""
        return len(self._held)

    def submit(self, msg_id: str, topic: str, payload: dict[str, Any], customer_id: str | None, qos: int = 1) -> bool:
        """True if the message is committed to the outbox now; False if it is held in memory for `retry()`."""
        self._held.append(OutboxEntry(msg_id, topic, payload, customer_id, qos))
        self.retry()
        if len(self._held) > self._max_held:
            self._held.popleft()
            self.dropped += 1
        return not self._held

    def retry(self) -> int:
        """Write the held messages, oldest first, in one transaction; returns how many are still held."""
        if not self._held:
            return 0
        try:
            self._outbox.put_many(list(self._held))
        except OutboxError as e:
            if self.last_error is None:
                log.error("%s; holding messages in memory and retrying", e)  # once per outage, not per message
            self.last_error = str(e)
            return len(self._held)
        if self.last_error is not None:
            log.info("outbox %s writable again", self._outbox.path)
        self.last_error = None
        self._held.clear()
        return 0

    def forget_customer(self, customer_id: str) -> int:
        """Revocation: drop that customer's held messages too (the outbox's own are `Outbox.delete_customer`)."""
        before = len(self._held)
        self._held = deque(e for e in self._held if e.customer_id != customer_id)
        return before - len(self._held)
