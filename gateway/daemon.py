"""`proximity-gateway run`: live scanning into the pipeline, with systemd notify/watchdog and signals.

SIGTERM drains (stop scanning, flush the outbox within a bound, publish offline status); SIGHUP reloads the
campaigns without losing presence or cap state. The watchdog is pinged from the event loop only while
the pipeline is healthy, so a wedged loop or a scanner that cannot recover gets the unit restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from gateway import sd_notify
from gateway.adverts import Advert
from gateway.config import ConfigError
from gateway.metrics import start_metrics_server
from gateway.runtime import Runtime
from gateway.setup import LoadedConfig
from gateway.sources.live import LiveSource

log = logging.getLogger("gateway.daemon")

SHUTDOWN_DRAIN_S = 10.0  # SIGTERM: how long to keep publishing what is queued before going offline
UNHEALTHY_BACKOFF_S = 300.0  # a scanner failing this long stops the watchdog pings: systemd restarts us


class Daemon:
    def __init__(self, loaded: LoadedConfig, *, backend: Any = None) -> None:
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
        if state in ("scanning", "starting"):
            self._unhealthy_since = None
            return True
        if self._unhealthy_since is None:
            self._unhealthy_since = now
        return now - self._unhealthy_since < UNHEALTHY_BACKOFF_S

    async def _watchdog(self) -> None:
        interval = sd_notify.watchdog_interval_s()
        errors_seen = 0
        while not self.stop_event.is_set():
            self.runtime.scanner_state = self.source.state  # for the health file
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
        sd_notify.notify("RELOADING=1")
        try:
            self.runtime.reload_campaigns()
        except ConfigError as e:
            for problem in e.problems:
                log.error("reload refused, keeping the running campaigns: %s", problem)
        sd_notify.notify("READY=1")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop_event.set)
        loop.add_signal_handler(signal.SIGINT, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        rt = self.runtime
        tasks = [
            asyncio.create_task(rt.publisher.run(), name="publisher"),
            asyncio.create_task(rt.housekeeping(self.stop_event), name="housekeeping"),
            asyncio.create_task(self.source.run(), name="scanner"),
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
                cause = f": {type(exc).__name__}: {exc}" if exc is not None else ""
                log.error("the %s task ended on its own%s; stopping, to be restarted", task.get_name(), cause)
                exit_code = 1
            log.info("stopping: draining the outbox for up to %.0f s", SHUTDOWN_DRAIN_S)
            sd_notify.notify("STOPPING=1")
            await self.source.stop()
            rt.flush()
            left = await rt.publisher.drain(SHUTDOWN_DRAIN_S)
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


async def deliver_queued(loaded: LoadedConfig, why: str, timeout_s: float = SHUTDOWN_DRAIN_S) -> tuple[int, int]:
    """Without a radio the daemon cannot run, but what it decided before (triggers, presence, revocation notices)
    must not wait for the adapter: a store with a dead dongle kept them until someone fixed it. Sends what is
    queued for up to `timeout_s`, leaves the reason in the health file for `status`, and publishes offline.
    Returns (delivered, still queued)."""
    rt = Runtime(loaded)
    rt.scanner_state = why
    publisher = asyncio.create_task(rt.publisher.run(), name="publisher")
    try:
        before = rt.outbox.depth()
        left = await rt.publisher.drain(timeout_s) if before else 0
        with contextlib.suppress(Exception):
            await asyncio.wait_for(rt.publisher.stop(), timeout=5)
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await publisher
        rt.write_health()
        rt.close()
    return before - left, left
