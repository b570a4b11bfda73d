"""`proximity-gateway run`: live scanning into the pipeline, with systemd notify/watchdog and signals.

SIGTERM drains (stop scanning, flush the outbox within a bound, publish offline status); SIGHUP reloads the
campaigns without losing presence or cap state. The watchdog is pinged from the event loop only while
the pipeline is healthy, so a wedged loop or a scanner that cannot recover gets the unit restarted.

Before scanning, the daemon may have to wait for BlueZ or the adapter (at boot, or a dongle that died): the
scanner task waits while the publisher and housekeeping already run, so what was queued before is delivered,
revocations are applied, and the health file says what is awaited. If Bluetooth never comes, the daemon stops
as on SIGTERM and exits 1 (`cannot_scan` says why), for systemd to restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from gateway import sd_notify
from gateway.adverts import Advert
from gateway.config import ConfigError
from gateway.metrics import start_metrics_server
from gateway.runtime import Runtime
from gateway.setup import LoadedConfig
from gateway.sources.bluez_errors import BLUETOOTH_WAIT_S
from gateway.sources.live import LiveSource

log = logging.getLogger("gateway.daemon")

SHUTDOWN_DRAIN_S = 10.0  # SIGTERM: how long to keep publishing what is queued before going offline
UNHEALTHY_BACKOFF_S = 300.0  # a scanner failing this long stops the watchdog pings: systemd restarts us


class BluetoothWait(Protocol):
    """gateway.sources.bluez_errors.wait_for_bluetooth, or a stand-in: None once Bluetooth is there, else what is
    still missing when it gives up."""

    def __call__(self, adapter: str | None, *, on_wait: Callable[[str], None]) -> Awaitable[str | None]: ...


class Daemon:
    def __init__(
        self, loaded: LoadedConfig, *, backend: Any = None, wait_for_bluetooth: BluetoothWait | None = None
    ) -> None:
        """`wait_for_bluetooth`: how to wait for BlueZ and the adapter before the first scanner start (None: start
        at once, as with a scripted backend, which needs neither)."""
        self.loaded = loaded
        self.metrics = start_metrics_server(loaded.gateway.metrics)
        self.runtime = Runtime(loaded, metrics=self.metrics)
        self.stop_event = asyncio.Event()
        self.ready = False
        self.source = LiveSource(
            loaded.gateway.scanner,
            self._on_advert if self.metrics.enabled else self.runtime.handle,
            backend=backend,
            rx_name=loaded.gateway.gateway_id,
            on_started=self._on_started,
            on_clock_step=self.runtime.clock_stepped,
        )
        self._unhealthy_since: float | None = None
        self._bluetooth_wait = wait_for_bluetooth
        self.waiting_for_bluetooth = False
        self.awaited: str | None = None  # what the wait for Bluetooth was last told is missing
        self.cannot_scan: str | None = None  # set when that wait gave up: the run stops and exits 1
        self.still_queued = 0  # left in the outbox when the run ended

    @property
    def scanner_state(self) -> str:
        """For the health file, and so for `status` and the retained status's problems."""
        if self.cannot_scan is not None:
            return f"cannot scan: {self.cannot_scan}"
        if self.waiting_for_bluetooth:  # "starting" while the first check is under way
            return "starting" if self.awaited is None else f"waiting for Bluetooth: {self.awaited}"
        return self.source.state

    def _awaiting(self, problem: str) -> None:
        self.awaited = problem
        self.runtime.scanner_state = self.scanner_state  # now, not at the watchdog's next turn
        log.warning("waiting up to %.0f s for Bluetooth: %s", BLUETOOTH_WAIT_S, problem)

    async def _scan(self) -> None:
        """The scanner task: waits for Bluetooth if told how, then scans until the stop. Returns early only when
        Bluetooth never came (`cannot_scan`)."""
        if self._bluetooth_wait is not None:
            self.waiting_for_bluetooth = True
            try:
                missing = await self._bluetooth_wait(self.loaded.gateway.scanner.adapter, on_wait=self._awaiting)
            finally:
                self.waiting_for_bluetooth = False
            if missing is not None:
                self.cannot_scan = missing
                self.runtime.scanner_state = self.scanner_state
                return
            if self.awaited is not None:
                log.info("Bluetooth is there now; starting the scanner")
        await self.source.run()

    def _on_advert(self, adv: Advert) -> None:
        stats = self.runtime.pipeline.stats
        before = stats.recognised
        self.runtime.handle(adv)
        self.metrics.advert(adv.rx)
        if stats.recognised != before:
            self.metrics.recognised()
        else:
            self.metrics.dropped()

    def _on_started(self) -> None:
        if not self.ready:
            self.ready = True
            sd_notify.notify("READY=1")
            log.info("scanning started; gateway ready")

    def healthy(self, now: float) -> bool:
        state = self.source.state
        if state in ("scanning", "starting") or self.waiting_for_bluetooth:  # the wait is bounded on its own
            self._unhealthy_since = None
            return True
        if self._unhealthy_since is None:
            self._unhealthy_since = now
        return now - self._unhealthy_since < UNHEALTHY_BACKOFF_S

    async def _watchdog(self) -> None:
        interval = sd_notify.watchdog_interval_s()
        errors_seen = 0
        while not self.stop_event.is_set():
            self.runtime.scanner_state = self.scanner_state
            healthy = self.healthy(time.monotonic())
            if interval is not None and healthy:
                sd_notify.notify("WATCHDOG=1")
            if self.metrics.enabled:
                self.metrics.set_outbox_depth(self.runtime.outbox.depth())
                self.metrics.scanner(self.source.status())
                tracker = self.runtime.pipeline.tracker
                self.metrics.receivers_left_out(tracker.model.receivers, tracker.absent)
                for _ in range(self.runtime.publisher.publish_errors - errors_seen):
                    self.metrics.publish_error()
                errors_seen = self.runtime.publisher.publish_errors
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=interval or 1.0)

    def _reload(self) -> None:
        # Before the first scanner start (waiting for Bluetooth, backing off) the reload's READY=1 would tell systemd
        # the service had started, and arm the watchdog: only a service that said READY says it again.
        if self.ready:
            sd_notify.notify("RELOADING=1")
        try:
            self.runtime.reload_campaigns()
        except ConfigError as e:
            for problem in e.problems:
                log.error("reload refused, keeping the running campaigns: %s", problem)
        if self.ready:
            sd_notify.notify("READY=1")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop_event.set)
        loop.add_signal_handler(signal.SIGINT, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        rt = self.runtime
        scanner = asyncio.create_task(self._scan(), name="scanner")
        tasks = [
            asyncio.create_task(rt.publisher.run(), name="publisher"),
            asyncio.create_task(rt.housekeeping(self.stop_event), name="housekeeping"),
            scanner,
            asyncio.create_task(self._watchdog(), name="watchdog"),
        ]
        stopping = asyncio.create_task(self.stop_event.wait(), name="stop")
        exit_code = 0
        try:
            # Every task runs until the stop: one that ends before it has failed, and a gateway without its scanner,
            # publisher or housekeeping would go on pinging the watchdog. Stop, and exit 1 for systemd's restart.
            done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                exc = None if task.cancelled() else task.exception()
                if exc is None and self.stop_event.is_set():
                    continue  # it ended for the stop, in the same turn of the loop as the stop itself: as asked
                if task is scanner and exc is None and self.cannot_scan is not None:
                    log.error("gave up waiting for Bluetooth; stopping, to be restarted")
                else:
                    cause = f": {type(exc).__name__}: {exc}" if exc is not None else ""
                    log.error("the %s task ended on its own%s; stopping, to be restarted", task.get_name(), cause)
                exit_code = 1
            if self.waiting_for_bluetooth:
                # stopped while waiting: no scanner to stop, and none may start (or the wait give up) while draining
                scanner.cancel()
            log.info("stopping: draining the outbox for up to %.0f s", SHUTDOWN_DRAIN_S)
            sd_notify.notify("STOPPING=1")
            await self.source.stop()
            rt.flush()
            left = self.still_queued = await rt.publisher.drain(SHUTDOWN_DRAIN_S)
            if left:
                log.warning("%d messages still queued; they stay in the outbox for the next start", left)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(rt.publisher.stop(), timeout=5)
        finally:
            for task in (*tasks, stopping):
                task.cancel()
            for task in (*tasks, stopping):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            rt.write_health()
            rt.close()
            self.metrics.close()
        return exit_code
