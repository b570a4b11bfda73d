"""Live BLE scanning with bleak: keeps a scanner running through BlueZ failures and silences.

The detection callback converts each (BLEDevice, AdvertisementData) to an Advert stamped with the wall
clock at reception (the one place the pipeline reads it) and hands it on; a step of that clock (NTP setting a
Pi that has no real-time clock) is told apart from a quiet store by the monotonic clock and reported to
`on_clock_step` before the first advertisement after it. Starting is retried with capped
exponential backoff; a scanner that reports nothing for `silence_restart_s` is restarted, because bleak
does not notice bluetoothd restarting and BlueZ can go quiet after hours.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from gateway.adverts import Advert
from gateway.clock import ClockSteps
from gateway.config import ScannerSettings
from gateway.sources.bleak_convert import advert_from_bleak
from gateway.sources.bluez_errors import check_bluetooth_available, describe_scan_error

__all__ = ["PASSIVE_OR_PATTERNS", "LiveSource", "backoff_delay", "check_bluetooth_available", "load_backend"]

log = logging.getLogger(__name__)

State = Literal["starting", "scanning", "backoff", "stopped"]

# Passive scanning goes through BlueZ's advertisement monitor, which only reports what matches a pattern.
# Every connectable or discoverable advertiser sends a FLAGS field with one of these values, so these three
# patterns (Home Assistant's choice) match practically everything.
PASSIVE_OR_PATTERNS = [
    OrPattern(0, AdvertisementDataType.FLAGS, b"\x02"),  # LE general discoverable
    OrPattern(0, AdvertisementDataType.FLAGS, b"\x06"),  # + BR/EDR not supported (most phones, tags)
    OrPattern(0, AdvertisementDataType.FLAGS, b"\x1a"),  # + simultaneous LE and BR/EDR (Apple devices)
]
BACKOFF_INITIAL_S = 1.0
START_TIMEOUT_S = 15.0  # a start that hangs on a wedged bluetoothd counts as a failed start (habluetooth: 15 s)
RECENT_BACKOFFS_KEPT = 16  # enough to see the doubling in `status`, bounded over a long outage
START_STOP_ERRORS = (BleakError, OSError)  # FileNotFoundError (no D-Bus) is an OSError


def backoff_delay(failures: int, initial_s: float, cap_s: float) -> float:
    """Seconds to wait after the `failures`-th consecutive failed start (1-based): doubling, capped."""
    return float(min(cap_s, initial_s * 2.0 ** max(0, failures - 1)))


def load_backend(spec: str) -> type[BaseBleakScanner]:
    """A bleak backend class from "package.module:ClassName" (tests, simulators, other radios)."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise ValueError(f"scanner backend {spec!r}: expected module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"scanner backend {spec!r}: cannot import {module_name}: {e}") from None
    backend = getattr(module, class_name, None)
    if not (isinstance(backend, type) and issubclass(backend, BaseBleakScanner)):
        raise ValueError(f"scanner backend {spec!r}: {class_name} is not a bleak BaseBleakScanner subclass")
    return backend


def bluez_args(settings: ScannerSettings) -> BlueZScannerArgs:
    args: BlueZScannerArgs = {}
    if settings.adapter:
        args["adapter"] = settings.adapter
    if settings.mode == "passive":
        args["or_patterns"] = list(PASSIVE_OR_PATTERNS)
    return args


class LiveSource:
    """Runs a bleak scanner until `stop()`; `state`, `adverts`, `restarts`, `last_advert_at`, `last_error`."""

    def __init__(
        self,
        settings: ScannerSettings,
        on_advert: Callable[[Advert], None],
        *,
        backend: type[BaseBleakScanner] | None = None,
        clock: Callable[[], float] = time.time,
        rx_name: str | None = None,
        on_started: Callable[[], None] | None = None,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backend_kwargs: dict[str, Any] | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
        on_clock_step: Callable[[float | None, float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.on_advert = on_advert
        self.backend = backend
        self.clock = clock
        self.rx_name = rx_name or socket.gethostname()
        self.on_started = on_started
        self.backoff_initial_s = backoff_initial_s
        self.backend_kwargs = backend_kwargs or {}
        self.start_timeout_s = start_timeout_s
        # (the wall time of the last advertisement before the step or None, the step in seconds)
        self.on_clock_step = on_clock_step
        self._monotonic = monotonic
        self._clock_steps = ClockSteps()

        self.state: State = "stopped"
        self.adverts = 0
        self.restarts = 0  # starts after the first one: error retries and silence restarts
        self.silence_restarts = 0
        self.failed_starts = 0
        self.callback_errors = 0
        self.clock_steps = 0
        self.last_advert_at: float | None = None  # wall clock of the last advertisement (epoch seconds)
        self.last_error: str | None = None
        self.recent_backoffs_s: deque[float] = deque(maxlen=RECENT_BACKOFFS_KEPT)
        self.started_once = False

        self._last_heard_mono = 0.0
        self._stop_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._finished.set()
        self._errors_logged: set[str] = set()
        self._callback_error_logged = False
        self._silences_in_a_row = 0

    # -- the detection callback: runs inside bleak, must never raise -------------------------------------

    def _detection_callback(self, device: BLEDevice, data: AdvertisementData) -> None:
        self._last_heard_mono = time.monotonic()
        if self._silences_in_a_row:
            log.info("advertisements again after %d silent restart(s)", self._silences_in_a_row)
            self._silences_in_a_row = 0
        try:
            t = self.clock()
            if (step := self._clock_steps.check(t, self._monotonic())) is not None:
                self._clock_stepped(step)
            adv = advert_from_bleak(device, data, t, self.rx_name)
            self.adverts += 1
            self.last_advert_at = t
            self.on_advert(adv)
        except Exception as e:  # anything escaping here would surface inside bleak's D-Bus handler
            self.callback_errors += 1
            if not self._callback_error_logged:
                self._callback_error_logged = True
                # the type only: the message could carry an address of a stranger
                log.error("advertisement handler failed (%s); counting further failures silently", type(e).__name__)

    def _clock_stepped(self, step: float) -> None:
        self.clock_steps += 1
        log.warning(
            "the wall clock stepped %+.1f s between two advertisements (NTP setting it?): times before and after "
            "are not compared",
            step,
        )
        if self.on_clock_step is not None:
            self.on_clock_step(self.last_advert_at, step)

    # -- the scanning loop ------------------------------------------------------------------------------

    def _new_scanner(self) -> BleakScanner:
        return BleakScanner(
            self._detection_callback,
            scanning_mode=self.settings.mode,
            bluez=bluez_args(self.settings),
            backend=self.backend,
            **self.backend_kwargs,
        )

    def _note_error(self, exc: BaseException, doing: str) -> None:
        key, message = describe_scan_error(exc)
        self.last_error = message
        if key not in self._errors_logged:
            self._errors_logged.add(key)
            then = "retrying with backoff" if doing == "start" else "starting a fresh scanner"
            log.error("scanner %s failed: %s; %s", doing, message, then)
        else:
            log.debug("scanner %s failed again: %s", doing, message)

    async def _wait_stop(self, timeout_s: float) -> bool:
        """True if stop() was called within timeout_s."""
        try:
            await asyncio.wait_for(self._stop_event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _watch_silence(self) -> bool:
        """Returns True when nothing was heard for silence_restart_s, False when stop() was called."""
        while True:
            remaining = self._last_heard_mono + self.settings.silence_restart_s - time.monotonic()
            if remaining <= 0:
                return True
            if await self._wait_stop(remaining):
                return False

    def _note_silence(self) -> None:
        self.silence_restarts += 1
        self._silences_in_a_row += 1
        self.last_error = f"no advertisements for {self.settings.silence_restart_s:g} s"
        # A store at night can be silent for hours: warn once, not every silence_restart_s.
        level = logging.WARNING if self._silences_in_a_row == 1 else logging.DEBUG
        log.log(level, "no advertisements for %g s; restarting the scanner", self.settings.silence_restart_s)

    async def _stop_scanner(self, scanner: BleakScanner) -> None:
        try:
            await scanner.stop()
        except START_STOP_ERRORS as e:
            self._note_error(e, "stop")

    async def run(self) -> None:
        """Scans until stop(). Never returns because of a Bluetooth error: it logs, backs off and retries."""
        # the stop event is not cleared: a stop() that came before run() got going must still count
        self._finished.clear()
        failures = 0
        attempts = 0
        try:
            while not self._stop_event.is_set():
                if attempts:
                    self.restarts += 1
                attempts += 1
                self.state = "starting"
                try:
                    scanner = self._new_scanner()
                    await asyncio.wait_for(scanner.start(), self.start_timeout_s)
                except (*START_STOP_ERRORS, TimeoutError) as e:
                    failures += 1
                    self.failed_starts += 1
                    self._note_error(e, "start")
                    delay = backoff_delay(failures, self.backoff_initial_s, self.settings.restart_backoff_max_s)
                    self.recent_backoffs_s.append(delay)
                    self.state = "backoff"
                    await self._wait_stop(delay)
                    continue
                if failures:
                    log.info("scanning again after %d failed start(s)", failures)
                failures = 0
                self._errors_logged.clear()  # a later outage of the same kind deserves its own log line
                self.last_error = None
                self.state = "scanning"
                self._last_heard_mono = time.monotonic()
                if not self.started_once:
                    self.started_once = True
                    log.info("scanning (%s mode, adapter %s)", self.settings.mode, self.settings.adapter or "default")
                    if self.on_started is not None:
                        self.on_started()
                silent = await self._watch_silence()
                await self._stop_scanner(scanner)
                if silent:
                    self._note_silence()
        finally:
            self.state = "stopped"
            self._finished.set()

    async def stop(self) -> None:
        """Stops scanning: run() stops the scanner and returns; this waits for that. A source runs once."""
        self._stop_event.set()
        await self._finished.wait()

    def status(self) -> dict[str, Any]:
        """For the status topic, `status` CLI and health checks; counters and times only, no addresses."""
        return {
            "state": self.state,
            "mode": self.settings.mode,
            "adapter": self.settings.adapter,
            "adverts": self.adverts,
            "restarts": self.restarts,
            "silence_restarts": self.silence_restarts,
            "failed_starts": self.failed_starts,
            "callback_errors": self.callback_errors,
            "clock_steps": self.clock_steps,
            "last_advert_at": self.last_advert_at,
            "last_error": self.last_error,
        }
