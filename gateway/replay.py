"""`proximity-gateway replay`: a recording through the whole pipeline, on the recording's own clock.

The pipeline never reads the wall clock, so `--fast` gives the same triggers as real time; `--speed X`
only paces the reading (X times real time) for demonstrations and soak tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gateway.adverts import Advert
from gateway.logs import log_each
from gateway.runtime import HEALTH_FILE, Runtime, health_updated_at
from gateway.setup import ZONES_FILE, LoadedConfig, input_warnings, left_out_warnings
from gateway.sources.recording import RecordingReader

log = logging.getLogger("gateway.replay")

BATCH_ADVERTS = 5000  # adverts between outbox commits and yields to the publisher in --fast mode
DEFAULT_DRAIN_TIMEOUT_S = 30.0


@dataclass
class ReplayResult:
    adverts: int = 0
    recognised: int = 0
    skipped_lines: int = 0
    truncated: bool = False
    events: int = 0
    still_queued: int = 0
    unwritten: int = 0  # events the outbox could not take (a full disk): held in memory, they end with the run
    carried_over: int = 0  # queued by an earlier run (a broker away, a crash): sent with this run's
    elapsed_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def adverts_per_s(self) -> float:
        return self.adverts / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def replay(
    loaded: LoadedConfig,
    scans: Path,
    *,
    speed: float | None = None,
    strict: bool = False,
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
) -> ReplayResult:
    """Replays `scans`; `speed` None means as fast as possible. Waits (bounded) for the outbox to drain."""
    # Open the recording before anything else: a wrong path is one line, with no broker connection first.
    # Each problem line is distinct and the reader caps them, so each gets its own log key (no folding).
    reader = RecordingReader(scans, strict=strict, on_problem=lambda msg: log_each(log, logging.WARNING, msg))
    reader.open()
    live = _written_by_the_daemon(loaded.gateway.state_dir)
    runtime = Runtime(loaded)
    runtime.written_by = f"replay of {scans}"
    stop = asyncio.Event()
    publisher_task = asyncio.create_task(runtime.publisher.run(), name="publisher")
    # a replay names unknown receivers once, with their counts, at the end (input_warnings)
    house_task = asyncio.create_task(runtime.housekeeping(stop, report_receivers=False), name="housekeeping")
    result = ReplayResult()
    started = time.perf_counter()
    # a test run replayed twice into one state directory: the second sends nothing, its triggers already "sent"
    earlier = runtime.history.newest_trigger_t()
    result.carried_over = runtime.outbox.depth()
    try:
        with reader:
            # the first advertisement read ahead and put back: chain() adds no Python frame per advertisement
            adverts = iter(reader)
            first = next(adverts, None)
            stream = adverts if first is None else itertools.chain((first,), adverts)
            if speed is None:
                await _replay_fast(runtime, stream)
            else:
                await _replay_paced(runtime, stream, speed)
            result.skipped_lines = reader.stats.skipped
            result.truncated = reader.stats.truncated
            result.problems = list(reader.stats.problems)
            result.warnings = input_warnings(
                reader.header,
                loaded.gateway.store_id,
                runtime.pipeline.tracker.unknown_rx,
                loaded.config_dir / ZONES_FILE,
            )
            if (read := reader.stats).skipped > read.adverts:
                # SPEC section 4: skipped lines never stop a replay, but a file that is mostly not advertisements
                # (a truth or customers file, a log) deserves more than a count at the end of the summary
                result.warnings.append(
                    f"{scans}: {read.skipped:,} of its {read.lines:,} lines were skipped and "
                    f"{read.adverts:,} replayed: is it a scan recording (SPEC section 4)?"
                )
        runtime.finish()
        if earlier is not None and first is not None and first.t <= earlier:
            state = loaded.gateway.state_dir
            result.warnings.append(
                f"{state}: its history already held triggers up to {_iso(earlier)}, after this recording's start "
                f"({_iso(first.t)}): this recording (or a later one) was replayed into it before, and the "
                "campaigns' cooldowns, caps and once-per-visit rule counted those triggers as sent; for a clean "
                "run replay into an empty state directory (PROXIMITY_STATE_DIR=...)"
            )
        if live is not None:
            result.warnings.append(
                f"{loaded.gateway.state_dir}: the daemon's state directory (`run` last wrote its health at "
                f"{_iso(live)}): the recording's stays and triggers are now in its history, counting against its "
                "customers' cooldowns and caps; test with PROXIMITY_STATE_DIR=... set to a directory of its own"
            )
        if runtime.consenting_at_start == 0 and runtime.pipeline.stats.recognised == 0:
            listed = loaded.gateway.customers_file
            result.warnings.append(
                f"{loaded.gateway.state_dir / 'registry.db'}: no consenting customer"
                + (f" (with {listed} imported)" if listed is not None else " (gateway.toml sets no customers_file)")
                + ": nobody could be recognised; import them with `proximity-gateway customers import FILE`"
            )
        result.warnings.extend(left_out_warnings(runtime.pipeline.left_out_s))
        if (level := runtime.pipeline.tracker.level.warning()) is not None:
            result.warnings.append(level)  # everyone has left by now: the survey holds the whole recording
        runtime.flush()
        result.elapsed_s = time.perf_counter() - started
        stats = runtime.pipeline.stats
        result.adverts = stats.adverts
        result.recognised = stats.recognised
        result.events = runtime.queued_events
        result.still_queued = await runtime.publisher.drain(drain_timeout_s)
        runtime.flush()  # a last try for what a full disk kept in memory
        result.unwritten = runtime.held_in_memory
    finally:
        stop.set()
        await house_task
        runtime.write_health()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runtime.publisher.stop(), timeout=5)
        publisher_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher_task
        runtime.close()
    return result


async def _replay_fast(runtime: Runtime, reader: Iterable[Advert]) -> None:
    batch: list[Advert] = []
    for adv in reader:
        batch.append(adv)
        if len(batch) >= BATCH_ADVERTS:
            runtime.handle_many(batch)
            batch.clear()
            runtime.flush()
            await asyncio.sleep(0)  # let the publisher and consent messages in
    runtime.handle_many(batch)


async def _replay_paced(runtime: Runtime, reader: Iterable[Advert], speed: float) -> None:
    wall0: float | None = None
    t0 = 0.0
    for n, adv in enumerate(reader):
        if wall0 is None:
            wall0, t0 = time.monotonic(), adv.t
        ahead = (adv.t - t0) / speed - (time.monotonic() - wall0)
        if ahead > 0.01:
            runtime.flush()
            await asyncio.sleep(ahead)
        elif n % BATCH_ADVERTS == 0:
            # Behind the pace, it never slept: the publisher and the health file waited for the end of the day
            # (a sweep saw 300 events queued and `status` saying "not running" while the replay ran).
            runtime.flush()
            await asyncio.sleep(0)
        runtime.handle(adv)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _written_by_the_daemon(state_dir: Path) -> float | None:
    """When `run` last wrote the health file of `state_dir`, or None if it never did (or a replay did last)."""
    try:
        health = json.loads((state_dir / HEALTH_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(health, dict) or health.get("written_by", "run") != "run":  # older daemons wrote no key
        return None
    return health_updated_at(health)
