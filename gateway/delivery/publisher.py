"""The MQTT side of delivery: reconnect loop, status + last will, inbound consent/redemptions, outbox drain.

At-least-once: a message leaves the outbox only after its PUBACK; whatever is still there after a reconnect or a
restart is published again with the same bytes (hence the same trigger id). Consumers deduplicate on the id.

Order: messages of one customer are published one at a time, in the order they were put, so enter/exit and
triggers of a customer cannot overtake each other even when a connection drops between them. Messages of
different customers are pipelined (`max_in_flight`), which is where the throughput comes from.

Inbound: the session is persistent (clean_session=False), so consent changes sent while the gateway was offline
are delivered when it reconnects; a QoS 1 message may arrive twice, so the callbacks must be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import aiomqtt
from aiomqtt import MqttError

from gateway.config import MqttSettings
from gateway.delivery.outbox import Outbox, OutboxError, OutboxItem
from gateway.delivery.topics import Topics
from gateway.health import SHORT_CONNECTIONS_NAMED
from gateway.logs import log_each

log = logging.getLogger(__name__)

Callback = Callable[[dict[str, Any]], Awaitable[None] | None]
SightingsCallback = Callable[[str, bytes], None]  # (receiver, payload) of another receiver's batch

DEFAULT_MAX_IN_FLIGHT = 32  # see benchmarks/bench_delivery.py: gains flatten out beyond a few dozen on loopback
PENDING_SCAN_FACTOR = 4  # read this many times the window, so one busy customer does not starve the others
BACKOFF_FIRST_S = 0.25
PUBLISH_TIMEOUT_MIN_S = 10.0  # a PUBACK slower than this (or the keepalive) means the link is dead: reconnect
CONNECT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0  # SIGTERM path: systemd's default stop timeout is 90 s, we take a small share of it
OUTBOX_RETRY_S = 1.0  # after an outbox read/delete error, e.g. a briefly locked or full file
DRAIN_POLL_S = 0.2  # drain() also notices messages put or deleted by others
# A connection that held this long resets the reconnect backoff.
BACKOFF_RESET_HELD_S = 5.0
# Connections the broker closes within a minute, several in a row, are being taken over: another client with the
# same id (two gateways with one gateway_id, a cloned SD card) or an ACL refusing a subscription.
CONNECTION_HELD_S = 60.0
MAX_INBOUND_BYTES = 64 * 1024  # a consent or redemption message: one customer, a few identifiers


def tls_context(s: MqttSettings) -> ssl.SSLContext | None:
    """The TLS context for an mqtts:// broker (CA, optional client certificate); None for plain mqtt://."""
    if not s.tls:
        return None
    ctx = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
    if s.cert_file is not None:
        ctx.load_cert_chain(str(s.cert_file), str(s.key_file) if s.key_file else None)
    return ctx


def backoff_s(attempt: int, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random, so a fleet does not reconnect in step."""
    base = min(cap_s, BACKOFF_FIRST_S * (2.0 ** min(attempt, 30)))
    return base / 2 + rng.uniform(0, base / 2)


def select_startable(
    batch: Sequence[OutboxItem], skip_ids: AbstractSet[str], busy_customers: AbstractSet[str], room: int
) -> list[OutboxItem]:
    """What to publish next from `batch` (oldest first): at most `room` items, at most one per customer, and for
    each customer only its oldest item not already in flight or acknowledged (`skip_ids`), and none for a customer
    with a message in flight (`busy_customers`). Messages without a customer have no order to keep."""
    chosen: list[OutboxItem] = []
    taken: set[str] = set()
    for item in batch:
        if len(chosen) >= room:
            break
        if item.msg_id in skip_ids:
            continue
        customer = item.customer_id
        if customer is not None:
            if customer in busy_customers or customer in taken:
                taken.add(customer)  # its predecessor is in flight or chosen: keep the customer's order
                continue
            taken.add(customer)
        chosen.append(item)
    return chosen


DECIDING_ROLES = ("standalone", "primary")  # roles that turn sightings into coupons (a node only forwards)


class Publisher:
    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox,
        store_id: str,
        gateway_id: str,
        version: str,
        on_consent: Callback | None = None,
        on_redemption: Callback | None = None,
        now: Callable[[], float] = time.time,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        rng: random.Random | None = None,
        on_sightings: SightingsCallback | None = None,
        role: str | None = None,
        on_retained_consent: Callback | None = None,
        on_node_online: Callable[[str], None] | None = None,
    ) -> None:
        """`on_retained_consent`: for a consent message the broker kept (retain flag), replayed at every subscription:
        the broker's copy of old news, which must not undo a revocation made since. Without it, `on_consent`.
        `on_node_online`: a receiver node of this store began a session (its status says online, with a `since` not
        seen before), so it is subscribed and may have missed what was sent before (a deciding gateway only)."""
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._settings = settings
        self._outbox = outbox
        self.topics = Topics(settings.topic_prefix, store_id, gateway_id)
        self._client_id = settings.client_id or f"{store_id}-{gateway_id}"
        self._version = version
        self._on_consent = on_consent
        self._on_retained_consent = on_retained_consent or on_consent
        self._on_redemption = on_redemption
        self._on_sightings = on_sightings
        self._gateway_id = gateway_id
        self._role = role
        self.other_deciders: set[str] = set()  # other gateways of this store that decide too (each warned once)
        # receiver nodes of this store whose status says offline: this gateway no longer hears their radios
        self.nodes_offline: set[str] = set()
        self._on_node_online = on_node_online
        self._node_sessions: dict[str, object] = {}  # node -> the `since` of its session last seen online
        self._now = now
        self._max_in_flight = max_in_flight
        self._rng = rng or random.Random()
        self._publish_timeout_s = max(PUBLISH_TIMEOUT_MIN_S, float(settings.keepalive_s))

        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._publish_offline_on_stop = True
        self._attempt = 0

        self._connected = False
        self._last_publish_at: float | None = None
        self._published = 0
        self._publish_errors = 0
        self._last_error: str | None = None
        self.connects = 0
        self._connected_at = 0.0
        self.short_connections = 0  # in a row: see CONNECTION_HELD_S
        self._online_since = 0.0
        # The daemon's problems (gateway.health), beside SPEC's keys in its retained online status: a fleet's
        # dashboard sees "online, scanner in backoff" without logging in to the store. None: not told any.
        self._problems: list[str] | None = None
        self._status_tasks: set[asyncio.Task[None]] = set()
        self.inbound_bad = 0
        self.callback_errors = 0
        self.dead_lettered = 0
        self.sightings_sent = 0
        self.sightings_unsent = 0  # QoS 0 by design: while disconnected they are dropped, not queued
        self._client_now: aiomqtt.Client | None = None
        self._sighting_tasks: set[asyncio.Task[None]] = set()

    # -- status and health ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_publish_at(self) -> float | None:
        return self._last_publish_at

    @property
    def published(self) -> int:
        return self._published

    @property
    def publish_errors(self) -> int:
        return self._publish_errors

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def health(self) -> dict[str, Any]:
        """For `status` and the metrics endpoint: counters and states only, no identifiers, no secrets."""
        try:
            queued: int | None = self._outbox.depth()
            oldest_age_s: float | None = self._outbox.oldest_age(self._now())
        except OutboxError:
            queued = oldest_age_s = None
        return {
            "connected": self._connected,
            "last_publish_at": self._last_publish_at,
            "published": self._published,
            "publish_errors": self._publish_errors,
            "last_error": self._last_error,
            "queued": queued,
            "oldest_age_s": oldest_age_s,
            "connects": self.connects,
            "inbound_bad": self.inbound_bad,
            "callback_errors": self.callback_errors,
            "dead_lettered": self.dead_lettered,
            "short_connections": self.short_connections,
            "client_id": self._client_id,
        }

    def _record_error(self, where: str, exc: BaseException) -> None:
        text = (str(exc) or type(exc).__name__).splitlines()[0]
        password = self._settings.password
        if password:
            text = text.replace(password, "***")  # belt and braces: no library message should carry it
        line = f"{where}: {type(exc).__name__}: {text}"
        # While a broker is down every retry fails the same way: the repeat filter says it once, then once a minute
        # with "(repeated K times)". Keyed by what it says, not by the template: a broker that comes back with an
        # expired certificate after "Disconnected during message iteration" must be named within that minute.
        log_each(log, logging.WARNING, "mqtt %s", line)
        self._last_error = line

    # -- public API ----------------------------------------------------------------------------------------

    def notify(self) -> None:
        """Call after `outbox.put`: wakes the drainer instead of waiting for the next event."""
        self._wake.set()

    async def drain(self, timeout_s: float) -> int:
        """Wait until the outbox is empty or `timeout_s` has passed; returns how many messages are still queued.

        Raises `OutboxError` if the outbox cannot even be read (then nobody knows what is queued)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self.notify()
        while True:
            depth = self._outbox.depth()
            remaining = deadline - loop.time()
            if depth == 0 or remaining <= 0:
                return depth
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, DRAIN_POLL_S))

    async def stop(self, publish_offline: bool = True) -> None:
        """SIGTERM path: publish the retained offline status, disconnect cleanly, and make `run()` return."""
        self._publish_offline_on_stop = publish_offline
        self._stop_requested.set()
        self._wake.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), STOP_TIMEOUT_S + self._publish_timeout_s)

    async def run(self) -> None:
        """Connect, and reconnect after every failure with capped exponential backoff, until `stop()`.

        A stopped publisher stays stopped (a `stop()` racing ahead of `run()` at shutdown must win)."""
        if self._running:
            raise RuntimeError("Publisher.run() is already running")
        self._running = True
        self._stopped.clear()
        self._attempt = 0
        self.short_connections = 0
        try:
            while not self._stop_requested.is_set():
                connects = self.connects
                try:
                    await self._session()
                except MqttError as e:
                    self._record_error("connection", e)
                except (OSError, ssl.SSLError) as e:
                    # Only the TLS context can raise these here (unreadable CA or key): retrying lets the
                    # status show the cause while someone fixes the file.
                    self._record_error("tls setup", e)
                self._connected = False
                if self._stop_requested.is_set():
                    break
                if self.connects > connects:
                    held = time.monotonic() - self._connected_at
                    # The backoff starts again only after a connection that held: two clients taking one id from
                    # each other otherwise reconnected four times a second, each.
                    if held >= BACKOFF_RESET_HELD_S:
                        self._attempt = 0
                    # Once backed off, the two hold a connection for tens of seconds each before the other takes
                    # it back: only a connection that held a minute ends the run.
                    self.short_connections = 0 if held >= CONNECTION_HELD_S else self.short_connections + 1
                    if self.short_connections >= SHORT_CONNECTIONS_NAMED:  # the repeat filter folds these
                        log.warning(
                            "mqtt: the broker closed the connection again within %g s of making it: is another "
                            "client connected as %r (two gateways with one gateway_id, a cloned SD card?), or does "
                            "the broker's ACL refuse this gateway's topics?",
                            CONNECTION_HELD_S, self._client_id,
                        )  # fmt: skip
                delay = backoff_s(self._attempt, self._settings.reconnect_max_s, self._rng)
                self._attempt += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), delay)
        finally:
            self._connected = False
            self._running = False
            self._stopped.set()

    # -- one connection --------------------------------------------------------------------------------------

    def set_problems(self, problems: list[str]) -> None:
        """What the daemon should have acted on, carried by its retained online status; republished on a change."""
        if problems == self._problems:
            return
        self._problems = list(problems)
        client = self._client_now
        if client is None:
            return  # the next connection's status carries them
        task = asyncio.create_task(self._send_online(client))
        self._status_tasks.add(task)
        task.add_done_callback(self._status_tasks.discard)

    async def _send_online(self, client: aiomqtt.Client) -> None:
        try:
            await client.publish(
                self.topics.status,
                self._status_payload("online", self._online_since),
                qos=1,
                retain=True,
                timeout=self._publish_timeout_s,
            )
        except MqttError as e:
            self._record_error("status", e)

    def _status_payload(self, state: str, since: float) -> bytes:
        status: dict[str, Any] = {"state": state, "version": self._version, "since": since}
        if state == "online" and self._problems is not None:
            status["problems"] = self._problems
        if self._role is not None:
            status["role"] = self._role  # beside SPEC's keys: lets a deciding gateway notice another one
        return json.dumps(status).encode()

    def _on_status(self, gateway: str, payload: object) -> None:
        """Another gateway's retained status: two that decide for one store would send every coupon twice, under
        different trigger ids that no consumer can deduplicate."""
        if gateway == self._gateway_id:
            return
        try:
            status = json.loads(payload) if isinstance(payload, bytes | bytearray) else None
        except (ValueError, RecursionError):
            return
        if not isinstance(status, dict):
            return
        if status.get("role") == "node" or gateway in self.nodes_offline:
            self._node_status(gateway, status.get("state"))
        if status.get("role") == "node" and status.get("state") == "online":
            self._node_session(gateway, status.get("since"))
        if gateway in self.other_deciders:
            return
        if status.get("state") == "online" and status.get("role") in DECIDING_ROLES:
            self.other_deciders.add(gateway)
            log.warning(
                "gateway %r of this store is online as %s and decides too: every coupon would be sent twice; "
                'make all but one of them role = "node"',
                gateway,
                status["role"],
            )

    def _node_session(self, gateway: str, since: object) -> None:
        """Each session of a node once: its retained status comes again at every subscription of this gateway."""
        if self._on_node_online is None or self._node_sessions.get(gateway) == since:
            return
        self._node_sessions[gateway] = since
        try:
            self._on_node_online(gateway)
        except Exception as e:  # another stage's handler: count it, keep the session
            self.callback_errors += 1
            log.warning("mqtt node status: handler failed with %s", type(e).__name__)

    def _node_status(self, gateway: str, state: object) -> None:
        """A receiver node went away or came back (its will, or its clean stop): until it is back, the runtime has the
        zones estimated without its receiver (Pipeline.receivers_offline). Said once each way."""
        if state == "offline" and gateway not in self.nodes_offline:
            self.nodes_offline.add(gateway)
            log.warning(
                "receiver node %r of this store is offline: zones are estimated without its radio until it is back "
                "(a node taken out of service: clear its retained status)",
                gateway,
            )
        elif state == "online" and gateway in self.nodes_offline:
            self.nodes_offline.discard(gateway)
            log.info("receiver node %r of this store is back online", gateway)

    def _client(self, since: float) -> aiomqtt.Client:
        s = self._settings
        # The will says since when this gateway was last known online; the broker sends it if we vanish.
        will = aiomqtt.Will(self.topics.status, self._status_payload("offline", since), qos=1, retain=True)
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=self._client_id,
            will=will,
            clean_session=False,
            keepalive=s.keepalive_s,
            timeout=CONNECT_TIMEOUT_S,
            tls_context=tls_context(self._settings),
            max_inflight_messages=self._max_in_flight,
        )
        # aiomqtt warns above 10 pending calls; our window is deliberate, so warn only beyond it.
        client.pending_calls_threshold = self._max_in_flight + 2
        return client

    async def _session(self) -> None:
        client = self._client(self._now())
        async with client:
            since = self._online_since = self._now()
            self._connected = True
            self._connected_at = time.monotonic()  # how long it held is counted from here, not from the handshake
            self._last_error = None
            self.connects += 1
            # every connection is said, past the repeat filter: the last line of a log must not read "refused" when
            # the broker came back (a fleet re-check)
            log.info("mqtt connected to %s:%d", self._settings.host, self._settings.port,
                     extra={"log_key": f"mqtt connected {self.connects}"})  # fmt: skip
            subscriptions = [(self.topics.consent, 1), (self.topics.redemptions, 1)]
            if self._on_sightings is not None:
                subscriptions.append((self.topics.full("sightings/+"), 0))
            if self._role in DECIDING_ROLES:
                # QoS 0: the broker keeps no statuses for this persistent session while it is away (the retained
                # ones still come on subscribing), or a gateway that came and went meanwhile was named as online
                subscriptions.append((self.topics.full("+/status"), 0))
            await client.subscribe(subscriptions)
            # "online" only once subscribed: the primary answers a node's online status by sending again what the
            # node may have missed, and the broker keeps a QoS 1 message only for a session already subscribed
            await client.publish(
                self.topics.status,
                self._status_payload("online", since),
                qos=1,
                retain=True,
                timeout=self._publish_timeout_s,
            )
            self._client_now = client
            inbound = asyncio.create_task(self._inbound(client))
            drainer = asyncio.create_task(self._drain_loop(client))
            stop = asyncio.create_task(self._stop_requested.wait())
            tasks = {inbound, drainer, stop}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                if stop in done and not drainer.done():
                    # Let the PUBACKs of what is in flight arrive, so a clean stop leaves no duplicates behind.
                    await asyncio.wait({drainer}, timeout=STOP_TIMEOUT_S)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._client_now = None
            for t in done:
                if t is not stop and not t.cancelled() and (exc := t.exception()) is not None:
                    raise exc
            if self._publish_offline_on_stop:
                try:
                    await client.publish(
                        self.topics.status,
                        self._status_payload("offline", self._now()),
                        qos=1,
                        retain=True,
                        timeout=STOP_TIMEOUT_S,
                    )
                except MqttError as e:
                    self._record_error("offline status", e)
        self._connected = False

    async def _inbound(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.topic.matches(self.topics.consent):
                handler = self._on_retained_consent if message.retain else self._on_consent
                await self._dispatch("consent", handler, message.payload)
            elif message.topic.matches(self.topics.redemptions):
                await self._dispatch("redemptions", self._on_redemption, message.payload)
            elif self._on_sightings is not None and message.topic.matches(self.topics.full("sightings/+")):
                receiver = str(message.topic).rsplit("/", 1)[-1]
                if receiver != self._gateway_id and isinstance(message.payload, bytes | bytearray):
                    try:
                        self._on_sightings(receiver, bytes(message.payload))
                    except Exception as e:  # another stage's handler: count it, keep the session
                        self.callback_errors += 1
                        log.warning("mqtt sightings: handler failed with %s", type(e).__name__)
            elif self._role in DECIDING_ROLES and message.topic.matches(self.topics.full("+/status")):
                self._on_status(str(message.topic).rsplit("/", 2)[-2], message.payload)

    def publish_sighting(self, payload: bytes) -> bool:
        """Sends a sightings batch of this gateway's radio at QoS 0, without waiting; False if not connected."""
        client = self._client_now
        if client is None:
            self.sightings_unsent += 1
            return False
        task = asyncio.create_task(self._send_sighting(client, payload))
        self._sighting_tasks.add(task)
        task.add_done_callback(self._sighting_tasks.discard)
        return True

    async def _send_sighting(self, client: aiomqtt.Client, payload: bytes) -> None:
        try:
            await client.publish(self.topics.sightings(self._gateway_id), payload, qos=0)
            self.sightings_sent += 1
        except MqttError:
            self.sightings_unsent += 1

    async def _dispatch(self, name: str, callback: Callback | None, payload: Any) -> None:
        size = len(payload) if isinstance(payload, bytes | bytearray | str) else 0
        if size > MAX_INBOUND_BYTES:
            # Decoding and applying 20 MB of identifiers held the event loop past the watchdog; no consent or
            # redemption message is near this size.
            self.inbound_bad += 1
            log.warning("mqtt %s: ignored a message of %d bytes (at most %d)", name, size, MAX_INBOUND_BYTES)
            return
        try:
            data = json.loads(payload) if isinstance(payload, bytes | bytearray | str) else None
        except (ValueError, RecursionError):  # RecursionError: "[[[[...]]]]" nested past the parser's stack
            data = None
        if not isinstance(data, dict):
            self.inbound_bad += 1
            # Never the content: it may carry a customer's identifiers or secret.
            log.warning(
                "mqtt %s: ignored a message that is not a JSON object (%d bytes, %d so far)",
                name,
                size,
                self.inbound_bad,
            )
            return
        if callback is None:
            return
        try:
            result = callback(data)
            if inspect.isawaitable(result):
                await result
        except Exception as e:
            # The callbacks belong to other stages; one bad record must not drop the MQTT connection. The
            # exception text may quote the record (a secret), so only its type is logged.
            self.callback_errors += 1
            log.warning("mqtt %s: handler failed with %s (%d so far)", name, type(e).__name__, self.callback_errors)

    def _dead_letter(self, item: OutboxItem, exc: BaseException) -> None:
        self.dead_lettered += 1
        reason = f"{type(exc).__name__}: {(str(exc) or '').splitlines()[0] if str(exc) else ''}"
        log.error("message %s can never be published (%s); moved to dead_letters", item.msg_id, reason)
        try:
            self._outbox.dead_letter(item.msg_id, reason)
        except OutboxError as e:
            self._record_error("outbox", e)
        self._progress.set()

    async def _publish(self, client: aiomqtt.Client, item: OutboxItem) -> None:
        await client.publish(item.topic, item.payload.encode(), qos=item.qos, timeout=self._publish_timeout_s)

    async def _drain_loop(self, client: aiomqtt.Client) -> None:
        in_flight: dict[asyncio.Task[None], OutboxItem] = {}
        busy_customers: set[str] = set()
        in_flight_ids: set[str] = set()
        to_ack: list[str] = []  # PUBACKed, not yet deleted (a failed delete is retried, not re-published)
        try:
            while True:
                self._wake.clear()
                if to_ack:
                    try:
                        self._outbox.ack_many(to_ack)
                        to_ack.clear()
                        self._progress.set()
                    except OutboxError as e:
                        self._record_error("outbox", e)
                if self._stop_requested.is_set() and not in_flight:
                    return
                room = 0 if self._stop_requested.is_set() else self._max_in_flight - len(in_flight)
                read_failed = False
                if room > 0:
                    try:
                        batch = self._outbox.pending(self._max_in_flight * PENDING_SCAN_FACTOR + len(to_ack))
                    except OutboxError as e:
                        self._record_error("outbox", e)
                        batch = []
                        read_failed = True
                    skip = in_flight_ids | set(to_ack)
                    for item in select_startable(batch, skip, busy_customers, room):
                        if item.customer_id is not None:
                            busy_customers.add(item.customer_id)
                        in_flight_ids.add(item.msg_id)
                        in_flight[asyncio.create_task(self._publish(client, item))] = item
                waker = asyncio.create_task(self._wake.wait())
                waiting: set[asyncio.Task[Any]] = {waker, *in_flight}
                timeout = OUTBOX_RETRY_S if (to_ack or read_failed) else None
                try:
                    done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waker.cancel()
                failure: BaseException | None = None
                for task in done:
                    if task is waker:
                        continue
                    item = in_flight.pop(task)
                    in_flight_ids.discard(item.msg_id)
                    if item.customer_id is not None:
                        busy_customers.discard(item.customer_id)
                    exc = task.exception()
                    if isinstance(exc, ValueError | TypeError):
                        # paho refused the message itself (wildcard in the topic, payload too large): no
                        # reconnect can fix it, and retrying would block this customer's queue for ever.
                        self._dead_letter(item, exc)
                        continue
                    if exc is not None:
                        self._publish_errors += 1
                        failure = failure or exc
                        continue
                    to_ack.append(item.msg_id)
                    self._published += 1
                    self._last_publish_at = self._now()
                if failure is not None:
                    raise failure  # the link is gone: the session ends and run() reconnects
        finally:
            for task in in_flight:
                task.cancel()
            if to_ack:
                # Leaving the session (stop or link lost): record what the broker has, so it is not resent.
                with contextlib.suppress(OutboxError):
                    self._outbox.ack_many(to_ack)
                    self._progress.set()
