"""Recording live advertisements: a filtering sink, an appending writer, and the scan loop for a duration.

The CLI commands in gateway/cli_record.py are thin shells over these.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bleak.backends.scanner import BaseBleakScanner

from gateway.adverts import Advert
from gateway.config import ScannerSettings
from gateway.sources.live import LiveSource


def source_description(settings: ScannerSettings) -> str:
    """The header's `source`: "bleak 3.1.0 on hci0"."""
    try:
        bleak_version = version("bleak")
    except PackageNotFoundError:
        bleak_version = "unknown"
    return f"bleak {bleak_version} on {settings.adapter or 'the default adapter'}"


@dataclass
class RecordStats:
    heard: int = 0
    written: int = 0
    dropped: int = 0  # not kept by the filter (--only-known, or not the calibration tag)


class FilteringSink:
    """on_advert for LiveSource: keeps what `keep` accepts, renames addresses with `rename`, then `write`s.

    `keep` sees the advertisement as heard (recognition needs the real address); `rename` runs after it.
    """

    def __init__(
        self,
        write: Callable[[Advert], None],
        keep: Callable[[Advert], bool] | None = None,
        rename: Callable[[str], str] | None = None,
    ) -> None:
        self.write = write
        self.keep = keep
        self.rename = rename
        self.stats = RecordStats()

    def __call__(self, adv: Advert) -> None:
        self.stats.heard += 1
        if self.keep is not None and not self.keep(adv):
            self.stats.dropped += 1
            return
        if self.rename is not None:
            adv.addr = self.rename(adv.addr)
        self.write(adv)
        self.stats.written += 1


async def scan_for(
    on_advert: Callable[[Advert], None],
    *,
    settings: ScannerSettings,
    rx: str,
    duration_s: float | None,
    stop: asyncio.Event | None = None,
    backend: type[BaseBleakScanner] | None = None,
    backend_kwargs: dict[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
    on_started: Callable[[], None] | None = None,
) -> LiveSource:
    """Scans into `on_advert` for `duration_s` (None: until `stop` is set); returns the stopped source.

    The scanner keeps retrying through Bluetooth errors meanwhile; the caller reads `source.last_error`
    and `source.started_once` to tell the user why nothing was recorded.
    """
    source = LiveSource(
        settings,
        on_advert,
        backend=backend,
        backend_kwargs=backend_kwargs,
        clock=clock,
        rx_name=rx,
        on_started=on_started,
    )
    stop = stop or asyncio.Event()
    task = asyncio.create_task(source.run(), name="record-scanner")
    try:
        await asyncio.wait_for(stop.wait(), duration_s)
    except TimeoutError:
        pass
    finally:
        await source.stop()
        await task
    return source
