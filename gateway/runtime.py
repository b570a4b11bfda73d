"""The I/O around the pure pipeline: consent registry, outbox, history, publisher, health file.

One `Runtime` serves both the live daemon and `replay`; the only difference is where advertisements
come from. Events go to the SQLite outbox (committed) before the publisher may send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gateway import __version__
from gateway.adverts import Advert
from gateway.campaigns.events import Trigger
from gateway.campaigns.history import SqliteHistory
from gateway.config import state_dir_origin
from gateway.delivery.outbox import Outbox, OutboxEntry, OutboxError
from gateway.delivery.publisher import Publisher
from gateway.health import health_problems
from gateway.identity.irk import chance_match_note
from gateway.identity.models import consents_to, count_irks, other_purposes_note
from gateway.identity.registry import Registry, RegistryError
from gateway.logs import log_each
from gateway.metrics import Metrics
from gateway.pipeline import Event, Pipeline
from gateway.privacy import HISTORY_FILE, OUTBOX_FILE, purge_revoked
from gateway.setup import LoadedConfig, build_pipeline, campaign_warnings_with, load_campaigns_file
from gateway.sources.sightings import SightingsBatcher, SightingsError, decode_batch
from gateway.zones.level import KEEP_DEVICES
from gateway.zones.recall import KEEP_CUSTOMERS

log = logging.getLogger("gateway.runtime")

REGISTRY_POLL_S = 1.0  # revocations made by the CLI reach the running daemon within this
HEALTH_WRITE_S = 2.0
PRUNE_EVERY_S = 3600.0  # advertisement time between two prunings of history.db (gateway.toml [history])
HEALTH_FILE = "health.json"


def health_updated_at(health: object) -> float | None:
    """When the gateway wrote this health document (`updated_at`), or None if it is not one of its health files."""
    updated = health.get("updated_at") if isinstance(health, dict) else None
    return float(updated) if isinstance(updated, int | float) and not isinstance(updated, bool) else None


RATE_WINDOW_S = 10.0  # advertisements per second per receiver, averaged over this
# While the outbox cannot be written (full or read-only disk), events wait in memory up to this many; past
# it the oldest presence events go first, then the oldest triggers, each drop counted and logged.
MAX_HELD_EVENTS = 100_000


@dataclass
class RateMeter:
    """Advertisements per second per receiver over the last completed window, recomputed once a window has passed
    (wall clock: this is health, not logic)."""

    window_s: float = RATE_WINDOW_S
    counts: dict[str, int] = field(default_factory=dict)
    _prev: dict[str, int] = field(default_factory=dict)
    _prev_at: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)

    def add(self, rx: str) -> None:
        self.counts[rx] = self.counts.get(rx, 0) + 1

    def roll(self, now: float) -> None:
        elapsed = now - self._prev_at
        if elapsed < self.window_s and self._prev_at:
            return
        if self._prev_at:
            self.rates = {rx: (n - self._prev.get(rx, 0)) / elapsed for rx, n in self.counts.items()}
        self._prev = dict(self.counts)
        self._prev_at = now


# How far ahead of this gateway's clock another receiver's sightings may be: batching (a few seconds), the
# broker's latency and NTP's error, with room to spare. The install guide asks for NTP on every receiver.
SIGHTING_MAX_AHEAD_S = 60.0
# ...and how far behind: the same allowance, as a node's batches go out every few seconds and sightings are sent
# at QoS 0, never held back for a reconnection.
SIGHTING_MAX_BEHIND_S = 60.0


@dataclass(frozen=True)
class RevocationNotice:
    """A revocation made with this gateway's CLI, passed on to the store's other receivers on the consent topic."""

    revoked: str
    at: float
    # Not filed under the revoked customer: erasing their data (at once, or at the next start while the broker is
    # away) must not delete the notice that tells the other receivers to stop forwarding them.
    customer_id: str | None = None
    topic_suffix: str = "consent"

    @property
    def message_id(self) -> str:
        return f"revocation-{self.revoked}-{self.at:.3f}"

    def payload(self) -> dict[str, Any]:
        return {"customer_id": self.revoked, "consent": False}


LOCK_FILE = "gateway.lock"


class StateDirError(Exception):
    """The state directory cannot be used; the message names it, and why, in one line."""


class StateInUseError(StateDirError):
    """Another gateway process works on the same state directory."""


def _lock_state_dir(state_dir: Path) -> IO[str]:
    """One process per state directory: two would share the outbox and the broker's client id, knock each other
    off the broker, and send presence events twice. The lock goes with the process, however it ends."""
    f = os.fdopen(os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600), "r+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "?"
        f.close()
        raise StateInUseError(
            f"{state_dir}: another proximity-gateway process (pid {holder}) is using this state directory; "
            "stop it first"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


class Runtime:
    def __init__(
        self, loaded: LoadedConfig, *, now: Callable[[], float] = time.time, metrics: Metrics | None = None
    ) -> None:
        cfg = loaded.gateway
        self.metrics = metrics if metrics is not None else Metrics()
        self.loaded = loaded
        self.cfg = cfg
        self.now = now
        state_dir = cfg.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = _lock_state_dir(state_dir)
        except OSError as e:  # a path under /proc, an immutable or read-only directory: named, not a traceback
            origin = state_dir_origin(os.environ, "gateway.toml")
            raise StateDirError(f"{origin}: state_dir: {state_dir}: cannot use it: {e.strerror or e}") from None
        self.state_dir = state_dir
        self.registry = Registry(state_dir / "registry.db")
        self.import_problems: list[str] = []
        if cfg.customers_file is not None:
            report = self.registry.import_file(cfg.customers_file, only_if_changed=True)
            self.import_problems = list(report.problems)
            for problem in report.problems:
                log_each(log, logging.WARNING, "customers file: %s", problem)
            if report.unchanged_file:
                log.info("customers file %s: unchanged since its last import, not applied again", cfg.customers_file)
            else:
                log.info(
                    "customers file %s: %d rows: %d added, %d updated, %d unchanged, %d revoked, %d rejected",
                    cfg.customers_file,
                    report.rows,
                    report.added,
                    report.updated,
                    report.unchanged,
                    report.revoked,
                    report.rejected,
                )
        self.history = SqliteHistory(state_dir / HISTORY_FILE)
        self.outbox = Outbox(state_dir / OUTBOX_FILE)
        consenting = self.registry.consenting()
        self.consenting_at_start = len(consenting)
        # a customer who consented for another purpose only is not recognised, and is erased as a revoked one is
        recognised = [c for c in consenting if consents_to(c, self.cfg.recognition.purposes)]
        if (note := chance_match_note(count_irks(recognised))) is not None:
            log.warning("recognition: %s", note)
        if (note := other_purposes_note(consenting, self.cfg.recognition.purposes)) is not None:
            log.warning("recognition: %s", note)
        purge_revoked(self.history, self.outbox, {c.customer_id for c in recognised})
        self.pipeline: Pipeline = build_pipeline(loaded, customers=consenting, history=self.history, now=now)
        # a campaign for a segment nobody in the registry has never fires: `campaigns validate` says so, and a
        # replay or the daemon that sends none of its coupons should too
        for w in campaign_warnings_with(loaded, segments={s for c in recognised for s in c.segments}):
            log_each(log, logging.WARNING, "%s", w)
        # Regulars' phone offsets from earlier runs, learnt under this very zone model (recall.py); a restart
        # (an update, a power cut at night) no longer sends every regular's next visit back to the prior.
        self._zones_digest = loaded.zones.digest()
        kept = self.history.offsets(self._zones_digest, KEEP_CUSTOMERS)
        self.pipeline.tracker.recall.restore(kept)
        # ...and the walk's level check starts from them too, one offset per customer (the most recent visits'),
        # rather than waiting for ten departures after every restart (level.py)
        for _, mean_db, var_db2, _ in kept[-KEEP_DEVICES:]:
            self.pipeline.tracker.level.add(mean_db, var_db2)
        self._registry_version = self.registry.version()
        # consent as a message on the consent topic left it, per customer: every receiver heard that message, so
        # poll_registry must not send it again as a revocation made here. Cleared at each poll, and a change
        # made later (a CLI revocation has its own revoked_at) does not match, so it is still sent.
        self._changed_by_topic: dict[str, tuple[bool, float | None]] = {}
        self._reported_rx: set[str] = set()
        self._reported_level = False
        self._reported_absent: frozenset[str] = frozenset()
        self.publisher = Publisher(
            cfg.mqtt,
            self.outbox,
            cfg.store_id,
            cfg.gateway_id,
            __version__,
            on_consent=self.on_consent,
            on_redemption=self.on_redemption,
            now=now,
            on_sightings=self.on_sightings if cfg.role == "primary" else None,
            role=cfg.role,
            on_retained_consent=self.on_retained_consent,
            on_node_online=self.on_node_online if cfg.role == "primary" else None,
        )
        # A receiver node shares what it recognises instead of deciding; strangers never leave its memory.
        self._batcher = SightingsBatcher(cfg.gateway_id) if cfg.role == "node" else None
        # ...and the store's own calibration tags, so a walk recorded on the primary hears every receiver
        self._calibration_tags = frozenset(cfg.calibration.tags)
        self.calibration_sent = 0
        self.sightings_in = 0
        self.sightings_rejected = 0
        self.rates = RateMeter()
        self.started_at = now()
        self.scanner_state = "idle"
        self.written_by = "run"  # or "replay of FILE": `status` must not pass a test run off as the daemon
        self.queued_events = 0
        self.outbox_errors = 0
        self.events_dropped = 0
        self.housekeeping_errors = 0
        self._pending: list[Event] = []
        # Advertisement time of the next pruning. The first is at the first flush: a gateway restarted more often
        # than hourly (or one started after a consent ended) must still let go of what the retention and ended
        # consents say. After a wall-clock step it is None: an hour after the new clock's first advertisement
        # (clock_stepped), whose time is not trusted to judge what is old until it has run a while.
        self._next_prune_t: float | None = -math.inf

    # -- the hot path ---------------------------------------------------------------------------
    def handle(self, adv: Advert) -> None:
        self.rates.add(adv.rx)
        if self._batcher is not None:
            self._share(adv)
            return
        events = self.pipeline.process(adv)
        if events:
            # One advertisement at a time (live, paced replay): events are rare, so commit and publish now
            # rather than at the next housekeeping tick; a coupon is worth most at the moment it is earned.
            self._pending.extend(events)
            self.flush()

    def handle_many(self, adverts: Iterable[Advert]) -> None:
        if self._batcher is not None:
            for adv in adverts:
                self.rates.add(adv.rx)
                self._share(adv)
            return
        process = self.pipeline.process
        add = self.rates.add
        pending = self._pending
        for adv in adverts:
            add(adv.rx)
            events = process(adv)
            if events:
                pending.extend(events)
                if any(isinstance(e, Trigger) for e in events):
                    # a coupon goes to the outbox now, not with the batch: until then a crash loses it
                    self.flush()
                    pending = self._pending

    def _share(self, adv: Advert) -> None:
        assert self._batcher is not None
        stats = self.pipeline.stats
        stats.adverts += 1
        if self.pipeline.resolver.match(adv) is not None:
            stats.recognised += 1
        elif self._calibration_tags and adv.addr.upper() in self._calibration_tags:
            self.calibration_sent += 1
        else:
            stats.dropped += 1
            return
        payload = self._batcher.add(adv)
        if payload is not None:
            self.publisher.publish_sighting(payload)

    def on_sightings(self, receiver: str, payload: bytes) -> None:
        """Another receiver's batch (primary role): into the same pipeline, named by that receiver."""
        try:
            batch = decode_batch(payload, receiver)
        except SightingsError as e:
            self.sightings_rejected += 1
            log.warning("sightings from %s ignored: %s", receiver, e)
            return
        adverts = batch.adverts
        now = self.now()
        early, late = now - SIGHTING_MAX_BEHIND_S, now + SIGHTING_MAX_AHEAD_S
        if any(not early <= a.t <= late for a in adverts):
            # One advertisement from the future moves that customer's clock ahead, and every real one after it
            # is then old news: a node with a wrong clock (or anyone who can publish) would hide customers. One
            # from the past (a node that booted without a real-time clock, before NTP set it) is no news of where
            # anyone is now, and would take the pipeline's time back with it.
            off = [a for a in adverts if not early <= a.t <= late]
            adverts = [a for a in adverts if early <= a.t <= late]
            self.sightings_rejected += len(off)
            worst = max(off, key=lambda a: abs(a.t - now)).t - now
            log.warning(
                "sightings from %s are up to %.0f s %s this gateway's clock: %d ignored (is NTP running there?)",
                receiver,
                abs(worst),
                "ahead of" if worst > 0 else "behind",
                len(off),
                extra={"log_key": f"sightings-{'ahead' if worst > 0 else 'behind'}-{receiver}"},
            )
        self.sightings_in += len(adverts)
        self.sightings_rejected += batch.rejected
        if self.metrics.enabled:  # nodes' receivers too (the primary's own radio: Daemon._on_advert)
            for a in adverts:
                self.metrics.advert(a.rx)
        self.handle_many(adverts)

    def clock_stepped(self, last_t: float | None, step: float) -> None:
        """The live source saw the wall clock step (`gateway.clock`): the visits under way end at `last_t`, the
        last time of the old clock, and tracking starts again in the new one. Caps and cooldowns keep the times
        they were written with: a step forward shortens the cooldowns running at that moment by the step."""
        if self._batcher is not None:
            return  # a node decides nothing; the primary's own clock stamps nothing the node sends
        events = self.pipeline.restart(last_t)
        log.warning(
            "wall clock step of %+.1f s: the visits under way end at the last time before it (%d event(s))",
            step,
            len(events),
        )
        self._pending.extend(events)
        self._next_prune_t = None
        self.flush()

    def finish(self) -> None:
        """End of the advertisement stream: everyone still tracked leaves."""
        self._pending.extend(self.pipeline.finish())

    def flush(self) -> int:
        """Commits pending events to the outbox and wakes the publisher. Returns how many were queued."""
        self._keep_offsets()
        events, self._pending = self._pending, []
        # The outbox first, then the caps' history, then the publisher. A crash between the two leaves a trigger the
        # next run decides again under the same trigger_id (the outbox keeps one); the other order lost it for good,
        # as the history said it had been sent. The history is written before the publisher may send it.
        errors = self.outbox_errors
        added = self.enqueue(events, notify=False) if events else 0
        if self.outbox_errors == errors:  # a full disk keeps the triggers in memory: their history waits with them
            self.pipeline.engine.flush()
            self._prune_history()  # it writes what the history holds: after the outbox too
        if added:
            self.publisher.notify()
        return added

    def _keep_offsets(self) -> None:
        """Hands the phone offsets departures left since the last flush to the history file."""
        changes = self.pipeline.tracker.recall.changes()
        if changes:
            self.history.put_offsets(self._zones_digest, changes)

    def _prune_history(self) -> None:
        """Hourly, in advertisement time (a replayed day prunes by its own dates): what gateway.toml's retention
        lets go; triggers only past what the campaigns' cooldowns and the caps still read."""
        t = self.pipeline.last_t
        if t is None:
            return
        if self._next_prune_t is None:
            self._next_prune_t = t + PRUNE_EVERY_S
        if t < self._next_prune_t:
            return
        self._next_prune_t = t + PRUNE_EVERY_S
        self._erase_expired(t)
        keep_s = self.cfg.history.retention_days * 86_400
        self.pipeline.tracker.recall.forget_before(t - keep_s)
        try:
            n = self.history.prune(t - keep_s, t - max(keep_s, self.pipeline.engine.lookback_s()))
        except (sqlite3.Error, OSError) as e:
            log.warning("history %s: old rows not deleted this hour: %s", self.history.path, e)
            return
        if n:
            log.info("history: %d rows older than the retention (%g days) deleted", n, self.cfg.history.retention_days)

    def enqueue(self, events: Sequence[Event], notify: bool = True) -> int:
        prefix = f"{self.cfg.mqtt.topic_prefix}/{self.cfg.store_id}/"
        items = [OutboxEntry(e.message_id, prefix + e.topic_suffix, e.payload(), e.customer_id) for e in events]
        try:
            added = self.outbox.put_many(items)
        except OutboxError as e:
            # Keep them in memory and try again on the next flush: a full disk must not lose triggers.
            self.outbox_errors += 1
            held = self._pending + list(events)  # oldest first: poll_registry's notices come after the flush's
            if len(held) > MAX_HELD_EVENTS:
                held = self._shed(held)
            self._pending = held
            log.error("%s; %d events kept in memory, retrying", e, len(held))
            return 0
        self.queued_events += added
        if self.metrics.enabled:
            for ev in events:
                if ev.topic_suffix.startswith("triggers/"):
                    self.metrics.trigger(ev.topic_suffix.removeprefix("triggers/"))
        if notify:
            self.publisher.notify()
        return added

    def _shed(self, held: list[Event]) -> list[Event]:
        """Bounds memory during a long disk failure: presence events are worth less than coupons and revocation
        notices, so they go first, oldest first."""
        excess = len(held) - MAX_HELD_EVENTS
        keep: list[Event] = []
        for ev in held:
            if excess > 0 and ev.topic_suffix == "presence":
                excess -= 1
                continue
            keep.append(ev)
        if excess > 0:
            keep = keep[excess:]
        self.events_dropped += len(held) - len(keep)
        log.error("outbox unwritable for long: %d events dropped so far (oldest presence first)", self.events_dropped)
        return keep

    # -- consent and redemptions ----------------------------------------------------------------
    async def on_consent(self, msg: dict[str, Any]) -> None:
        # A message on the consent topic is the app's own word, so it may re-grant a revoked customer
        # (unlike the customers_file imported at start, which must not undo a revocation).
        self._consent(msg, regrant=True)

    async def on_retained_consent(self, msg: dict[str, Any]) -> None:
        # The broker's kept copy, replayed at every (re)subscription: old news that must not undo a revocation made
        # since (customers revoke), so it re-grants only as a file row would, with consented_at after the revocation.
        # It still adds a customer this gateway never had (a gateway installed after the message).
        self._consent(msg, regrant=False)

    def on_node_online(self, node: str) -> None:
        """A receiver node began a session. A revocation notice sent before its first subscription (a new node, or
        a broker that lost its sessions in a restart) never reached it, and it would go on forwarding that
        customer: every revocation within the history's retention is sent again. A node that had one applies it
        as before, a no-op."""
        try:
            revoked = self.registry.revoked_since(self.now() - self.cfg.history.retention_days * 86_400)
        except RegistryError as e:
            log.warning("registry not readable: revocations not sent again to node %r: %s", node, e)
            return
        if revoked:
            log.info("receiver node %r began a session: %d revocation(s) sent again", node, len(revoked))
            self.enqueue([RevocationNotice(customer_id, at) for customer_id, at in revoked])

    def _consent(self, msg: dict[str, Any], *, regrant: bool) -> None:
        try:
            change = self.registry.apply_consent_message(msg, regrant=regrant)
        except RegistryError as e:  # lock held too long or disk trouble: the broker will not redeliver, say so
            log.error("consent message could not be stored, not applied: %s", e)
            return
        if change.problem or change.customer_id is None:
            log_each(log, logging.WARNING, "consent message ignored: %s", change.problem or "no customer_id")
            return
        if change.action == "declined":
            # "no" from someone this gateway never had: nothing to revoke, and their id is not logged either
            return
        try:
            stored = self.registry.get(change.customer_id)
        except RegistryError:  # applied, but not read back: at worst it is sent once more on the consent topic
            stored = None
        if stored is not None:
            self._changed_by_topic[change.customer_id] = (stored.consent, stored.revoked_at)
        self._apply_customer_change(change.customer_id, change.customer)

    async def on_redemption(self, msg: dict[str, Any]) -> None:
        # Only a consenting customer's redemption is kept: nothing is stored about anyone else (SPEC 6), and
        # anyone who can publish could otherwise grow history.db with made-up ids.
        customer_id = msg.get("customer_id")
        if isinstance(customer_id, str):
            try:
                known = self.registry.get(customer_id)
            except RegistryError as e:
                log.error("redemption not recorded, the registry is not readable: %s", e)
                return
            if known is None or not known.consent:
                self.pipeline.engine.stats["redemptions_ignored"] += 1
                log.warning("ignored redemption message: not a consenting customer of this store")
                return
        self.pipeline.engine.on_redemption(msg)

    def _apply_customer_change(self, customer_id: str, customer: Any | None) -> None:
        if customer is not None and customer.consent:  # expiry is checked per advertisement by the resolver
            self.pipeline.resolver.upsert(customer)
            if consents_to(customer, self.cfg.recognition.purposes):
                log_each(log, logging.INFO, "consent granted or updated: %s", customer_id)
                return
            # consent kept, for something else (analytics alone): what was kept for coupons goes, as on a revocation
            dropped = self._erase(customer_id)
            log_each(log, logging.INFO, "consent now for %r only: %s is not recognised (%d queued messages deleted)",
                     customer.purpose, customer_id, dropped)  # fmt: skip
            return
        self.revoke_everywhere(customer_id)

    def revoke_everywhere(self, customer_id: str) -> None:
        """Revocation: keys, in-memory state, presence history and queued-but-unsent triggers go."""
        dropped = self._erase(customer_id)
        log_each(log, logging.INFO, "consent revoked: %s (%d queued messages deleted)", customer_id, dropped)

    def _erase(self, customer_id: str) -> int:
        """Everything the gateway holds about a customer, but the registry's record; returns the messages dropped."""
        self._forget_in_memory(customer_id)
        self.history.delete_customer(customer_id)
        return self.outbox.delete_customer(customer_id)

    def _forget_in_memory(self, customer_id: str) -> None:
        self.pipeline.forget(customer_id)
        self._pending = [e for e in self._pending if e.customer_id != customer_id]

    def _erase_expired(self, t: float) -> None:
        """Consent given until a date (`expires_at`) ends as a revocation does, by advertisement time: the resolver
        stops recognising the customer at that moment, and at the next hourly housekeeping their stays, coupons,
        learnt phone offset and unsent messages go too, rather than waiting out the retention. The registry keeps
        the record (`customers list` shows it expired), so that a renewed consent brings the customer back."""
        expired = self.pipeline.resolver.expired(t)
        if not expired:
            return
        try:
            stored = self.history.customer_ids() | self.outbox.customer_ids()
            # after a restart every expired record is back in the resolver: only those with rows cost a delete
            dropped = 0
            for customer_id in expired:
                if customer_id in stored:
                    dropped += self._erase(customer_id)
                else:
                    self._forget_in_memory(customer_id)
        except (sqlite3.Error, OSError) as e:
            log.warning("history: customers whose consent expired not erased this hour: %s", e)
            return
        # after a restart the registry hands the resolver every expired customer again: name only those who had data
        if erased := sorted(c for c in expired if c in stored):
            shown = ", ".join(erased[:5]) + (f" and {len(erased) - 5} more" if len(erased) > 5 else "")
            log.info("consent expired: %s; their stored history erased (%d queued messages deleted)", shown, dropped)

    def poll_registry(self) -> None:
        """Picks up changes another process (the CLI) made to the registry: only what changed is applied."""
        try:
            version = self.registry.version()
            if version == self._registry_version:
                self._changed_by_topic.clear()
                return
            changed = self.registry.changes_since(self._registry_version)
        except RegistryError as e:
            log.warning("registry not readable this time, retrying: %s", e)
            return
        self._registry_version = version
        from_topic, self._changed_by_topic = self._changed_by_topic, {}
        notices: list[Event] = []
        for customer in changed:
            self._apply_customer_change(customer.customer_id, customer)
            if from_topic.get(customer.customer_id) == (customer.consent, customer.revoked_at):
                continue
            if not customer.consent and self.cfg.role in ("primary", "node"):
                notices.append(RevocationNotice(customer.customer_id, customer.revoked_at or self.now()))
        if notices:
            # The store's other receivers hear consent only on the consent topic: without this, a customer
            # revoked on this gateway's CLI would still be forwarded by a node (SPEC 6: within seconds).
            self.enqueue(notices)

    def reload_campaigns(self) -> None:
        campaigns, caps, warnings = load_campaigns_file(
            self.loaded.config_dir / "campaigns.toml", set(self.loaded.zones.zones)
        )
        for w in warnings:
            log.warning("%s", w)
        self.pipeline.engine.reload(campaigns, caps)
        log.info("campaigns reloaded: %d campaigns", len(campaigns))

    # -- health ---------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        pub = self.publisher
        delivery = pub.health()  # None for what the outbox would not tell this time (a locked database)
        try:
            set_aside: int | None = self.outbox.dead_letters()
        except OutboxError:
            set_aside = None
        stats = self.pipeline.stats
        return {
            "version": __version__,
            "store_id": self.cfg.store_id,
            "gateway_id": self.cfg.gateway_id,
            "role": self.cfg.role,
            "sightings_in": self.sightings_in,
            "sightings_rejected": self.sightings_rejected,
            "sightings_sent": pub.sightings_sent,
            "calibration_adverts_sent": self.calibration_sent,
            "pid": os.getpid(),
            "written_by": self.written_by,
            "updated_at": self.now(),
            "started_at": self.started_at,
            "scanner": self.scanner_state,
            "adverts": stats.adverts,
            "recognised_adverts": stats.recognised,
            "dropped_adverts": stats.dropped,
            "adverts_per_s": {rx: round(r, 2) for rx, r in sorted(self.rates.rates.items())},
            "tracked_devices": self.pipeline.tracker.tracked(),
            "device_level": self.pipeline.tracker.level.report(),
            "outbox_depth": delivery["queued"],
            "oldest_queued_age_s": delivery["oldest_age_s"],
            "dead_letters": set_aside,
            "dead_lettered_since_start": delivery["dead_lettered"],
            "short_connections_in_a_row": delivery["short_connections"],
            "mqtt_client_id": delivery["client_id"],
            "outbox_errors": self.outbox_errors,
            "housekeeping_errors": self.housekeeping_errors,
            "events_dropped": self.events_dropped,
            "broker_connected": pub.connected,
            "nodes_offline": sorted(pub.nodes_offline),
            "receivers_absent": sorted(self.pipeline.tracker.absent),
            "receivers_not_in_zones": sorted(self.pipeline.tracker.unknown_rx),
            "last_publish_at": pub.last_publish_at,
            "published": pub.published,
            "publish_errors": pub.publish_errors,
            "last_error": pub.last_error,
        }

    @property
    def held_in_memory(self) -> int:
        """Events decided but not in the outbox yet: the outbox could not take them (a full disk) and they wait."""
        return len(self._pending)

    def write_health(self) -> dict[str, Any]:
        """Writes the health document for `status`, and returns it."""
        self.rates.roll(self.now())
        health = self.health()
        path = self.state_dir / HEALTH_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(health, indent=1))
            os.replace(tmp, path)  # atomic: `status` never reads half a file
        except OSError as e:
            # A full disk must not end the process: the outbox and history keep what they cannot write in memory
            # and retry, and a crash here lost exactly that (a sweep: 6 of 11 triggers). `status` reads the last
            # health file written, and says how old it is.
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            log_each(log, logging.WARNING, "health file %s not written: %s", path, e.strerror or e)
        return health

    def report_unknown_receivers(self) -> None:
        """Once per receiver: readings from a receiver the zone model does not know are ignored (a node added or
        renamed since the calibration), which the store's IT team should hear about."""
        for rx in self.pipeline.tracker.unknown_rx.keys() - self._reported_rx:
            self._reported_rx.add(rx)
            log.warning("receiver %r is not in zones.toml: its readings are ignored until the zones are refitted", rx)

    def report_absent_receivers(self) -> None:
        """A receiver the zones are now estimated without because it stopped hearing devices the walk says it
        should hear (zones/liveness.py), and one that hears again. A node that said it is offline is the
        publisher's to report."""
        pipeline = self.pipeline
        absent = pipeline.liveness.absent
        if absent == self._reported_absent:
            return
        t = pipeline.last_t or 0.0
        for rx in sorted(absent - self._reported_absent):
            log.warning(
                "receiver %r has heard nothing for %.0f s although customers are where the calibration walk heard "
                "it: zones are estimated without it until it hears again (is its node, adapter or scanner down?)",
                rx,
                pipeline.liveness.silent_for(rx, t),
            )
        for rx in sorted(self._reported_absent - absent):
            log.info("receiver %r hears again: zones use it again", rx)
        self._reported_absent = absent

    def report_level(self) -> None:
        """Once per run: customers' devices as a whole read far louder or quieter than the calibration walk's
        device (zones/level.py), which the store's IT team can fix by walking again."""
        if not self._reported_level and (warning := self.pipeline.tracker.level.warning()) is not None:
            self._reported_level = True
            log.warning("%s", warning)

    async def housekeeping(self, stop: asyncio.Event, *, report_receivers: bool = True) -> None:
        """Every second: registry changes, events to the outbox, health file."""
        last_health = 0.0
        while not stop.is_set():
            try:
                if self._batcher is not None and (payload := self._batcher.take()) is not None:
                    self.publisher.publish_sighting(payload)  # a quiet second still sends what it has
                self.flush()
                self.poll_registry()
                if self._batcher is None:
                    self.pipeline.receivers_offline(self.publisher.nodes_offline)
                if report_receivers:
                    self.report_unknown_receivers()
                    self.report_absent_receivers()
                    self.report_level()
            except Exception as e:
                # This loop applies revocations and writes the health file, and nothing restarts it: one bad second
                # (a database locked past its timeout, a disk that refuses a file) must cost one second, not the rest
                # of the run. Each cause is logged, and counted in the health file.
                self.housekeeping_errors += 1
                log_each(log, logging.ERROR, "housekeeping failed, trying again in %g s: %s: %s",
                         REGISTRY_POLL_S, type(e).__name__, e)  # fmt: skip
            # written whatever failed above, so that `status` shows the errors rather than "not running"
            now = self.now()
            if now - last_health >= HEALTH_WRITE_S:
                health = self.write_health()
                last_health = now
                if self.written_by == "run":
                    # into the retained MQTT status; the broker's own state aside: it is told only while connected,
                    # and a dashboard sees the last will when it is not
                    self.publisher.set_problems(
                        health_problems({**health, "running": True, "broker_connected": True}, 0.0)
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=REGISTRY_POLL_S)

    def close(self) -> None:
        self.pipeline.tracker.remember_tracked()  # an update's restart mid-day keeps the visits' learnt offsets
        self._keep_offsets()
        self.history.close()
        self.outbox.close()
        self.registry.close()
        self._lock.close()  # releases the lock
