"""bleak backends without Bluetooth: a scripted one (advertisements, start failures, silences) and one
that plays a scan recording in real time.

`BleakScanner(cb, backend=ScriptedScanner, script=script)` goes through bleak's own callback machinery
(`create_or_update_device`, `call_detection_callbacks`, `seen_devices`), so the code under test is the
production code path above the backend. Used by the tests of the live source, `record`, and the daemon;
`proximity-gateway run --scanner-backend gateway.sources.scripted_backend:RecordingScanner` with
RECORDING_SCANNER_FILE=scans.jsonl.gz runs the real daemon on recorded radio traffic.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakError

from gateway.sources.bleak_convert import advertisement_data_from_advert
from gateway.sources.recording import RecordingError, RecordingReader

# not PROXIMITY_*: that prefix is the config's environment override namespace (gateway.config)
RECORDING_ENV = "RECORDING_SCANNER_FILE"
SPEED_ENV = "RECORDING_SCANNER_SPEED"  # 1 = real time (default), 10 = ten times faster, 0 = no pauses


@dataclass
class Emission:
    address: str
    data: AdvertisementData
    delay_s: float = 0.0  # pause before this advertisement


@dataclass
class Script:
    """Shared by every scanner a LiveSource creates: each start() takes the next step of the script.

    `start_errors`: exceptions raised by the first starts, in order (None = that start succeeds).
    `sessions`: what each successful start emits, in order; after its last emission that scanner is silent.
    Once the sessions run out, further successful starts emit `repeat` forever (empty = stay silent).
    """

    start_errors: list[BaseException | None] = field(default_factory=list)
    sessions: list[list[Emission]] = field(default_factory=list)
    repeat: list[Emission] = field(default_factory=list)
    starts: int = 0  # start() calls, failed or not
    stops: int = 0
    constructed: list[dict[str, Any]] = field(default_factory=list)  # scanning_mode and bluez args seen


class ScriptedScanner(BaseBleakScanner):
    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        script: Script,
        bluez: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.script = script
        self._task: asyncio.Task[None] | None = None
        script.constructed.append({"scanning_mode": scanning_mode, "bluez": dict(bluez or {})})

    async def start(self) -> None:
        script = self.script
        script.starts += 1
        if script.start_errors:
            error = script.start_errors.pop(0)
            if error is not None:
                raise error
        self.seen_devices = {}
        emissions = script.sessions.pop(0) if script.sessions else None
        if emissions is None:
            if not script.repeat:
                return
            self._task = asyncio.create_task(self._emit(script.repeat, forever=True))
        else:
            self._task = asyncio.create_task(self._emit(emissions, forever=False))

    async def _emit(self, emissions: list[Emission], *, forever: bool) -> None:
        while True:
            for e in emissions:
                await asyncio.sleep(e.delay_s)
                device = self.create_or_update_device(e.address, e.address, e.data.local_name, None, e.data)
                self.call_detection_callbacks(device, e.data)
            if not forever:
                return

    async def stop(self) -> None:
        self.script.stops += 1
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # waits without re-raising the cancellation
            self._task = None


class RecordingScanner(BaseBleakScanner):
    """Plays a scan recording (SPEC section 4) as if the radio heard it, paced by the recorded times.

    The recording comes from `recording=` or $RECORDING_SCANNER_FILE; `speed=` or
    $RECORDING_SCANNER_SPEED scales the pace. The receiving side stamps its own clock and receiver name,
    as with a real radio. At the end of the file the scanner falls silent.
    """

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        recording: str | os.PathLike[str] | None = None,
        speed: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        path = recording if recording is not None else os.environ.get(RECORDING_ENV)
        if not path:
            raise BleakError(f"RecordingScanner needs a recording: set {RECORDING_ENV}")
        self.path = Path(path)
        try:
            self.speed = float(speed if speed is not None else os.environ.get(SPEED_ENV, "1"))
        except ValueError:
            raise BleakError(f"{SPEED_ENV} is not a number") from None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.path.is_file():
            raise BleakError(f"recording {self.path} not found")
        self.seen_devices = {}
        self._task = asyncio.create_task(self._play())

    async def _play(self) -> None:
        try:
            with RecordingReader(self.path) as reader:
                previous: float | None = None
                for adv in reader:
                    if previous is not None and self.speed > 0 and adv.t > previous:
                        await asyncio.sleep((adv.t - previous) / self.speed)
                    previous = adv.t
                    data = advertisement_data_from_advert(adv)
                    device = self.create_or_update_device(adv.addr, adv.addr, adv.name, None, data)
                    self.call_detection_callbacks(device, data)
                    if self.speed <= 0:
                        await asyncio.sleep(0)  # let the loop breathe between advertisements
        except RecordingError:
            return  # the file went away or is unreadable: behave like a radio that fell silent

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
