"""A bleak backend that plays a script: advertisements, start failures and silences, without Bluetooth.

`BleakScanner(cb, backend=ScriptedScanner, script=script)` goes through bleak's own callback machinery
(`create_or_update_device`, `call_detection_callbacks`, `seen_devices`), so the code under test is the
production code path above the backend. Used by the tests of the live source, `record`, and the daemon.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner


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
