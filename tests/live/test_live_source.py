"""The live source through bleak's real BleakScanner front end with a scripted backend."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from bleak.assigned_numbers import AdvertisementDataType
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakDBusError

from gateway.adverts import (
    Advert,
    eddystone_uid_key_from_svc,
    encode_eddystone_uid,
    encode_ibeacon,
    encode_token_frame,
    ibeacon_key_from_mfr,
    token_from_mfr,
)
from gateway.config import ScannerSettings
from gateway.sources.bleak_convert import advertisement_data
from gateway.sources.live import LiveSource, backoff_delay
from gateway.sources.recording import Header, RecordingWriter, read_recording
from gateway.sources.scripted_backend import Emission, Script, ScriptedScanner

T0 = 1_732_450_000.0
UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
TOKEN = bytes.fromhex("0123456789abcdef")
NAMESPACE = "00112233445566778899"
INSTANCE = "aabbccddeeff"


def bytes_map(hex_map: dict[str, str]) -> dict[int, bytes]:
    return {int(k): bytes.fromhex(v) for k, v in hex_map.items()}


def ibeacon_emission(rssi: int = -61, delay_s: float = 0.0) -> Emission:
    data = advertisement_data(rssi=rssi, mfr=bytes_map(encode_ibeacon(UUID, 1, 7)))
    return Emission("C0:11:22:33:44:55", data, delay_s)


def token_emission() -> Emission:
    return Emission("5A:1B:22:33:44:55", advertisement_data(rssi=-70, mfr=bytes_map(encode_token_frame(TOKEN))))


def eddystone_emission() -> Emission:
    svc = {
        "0000feaa-0000-1000-8000-00805f9b34fb": bytes.fromhex(
            next(iter(encode_eddystone_uid(NAMESPACE, INSTANCE).values()))
        )
    }
    return Emission("D0:00:00:00:00:01", advertisement_data(rssi=-80, svc_data=svc, svc_uuids=["feaa"], tx_power=-4))


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        self.t += 0.5
        return self.t


def settings(**kw: object) -> ScannerSettings:
    base: dict[str, object] = {"silence_restart_s": 5.0, "restart_backoff_max_s": 0.08}
    base.update(kw)
    return ScannerSettings.model_validate(base)


class Harness:
    """A LiveSource on a script, running in the background of a test."""

    def __init__(self, script: Script, **kw: object) -> None:
        self.script = script
        self.got: list[Advert] = []
        self.started = 0
        self.source = LiveSource(
            settings(**kw),
            self.got.append,
            backend=ScriptedScanner,
            backend_kwargs={"script": script},
            clock=Clock(),
            rx_name="rx-test",
            on_started=self._on_started,
            backoff_initial_s=0.01,
        )
        self.task: asyncio.Task[None] | None = None

    def _on_started(self) -> None:
        self.started += 1

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.source.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.wait_for(self.source.stop(), 2)
        assert self.task is not None
        await asyncio.wait_for(self.task, 2)

    async def until(self, cond: object, timeout_s: float = 3.0) -> None:
        assert callable(cond)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not cond():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition not met; status {self.source.status()}")
            await asyncio.sleep(0.005)


async def test_frames_come_out_exactly_as_a_recording_holds_them(tmp_path: Path) -> None:
    script = Script(sessions=[[ibeacon_emission(), token_emission(), eddystone_emission()]])
    async with Harness(script) as h:
        await h.until(lambda: len(h.got) == 3)

    path = tmp_path / "live.jsonl"
    with RecordingWriter(path, Header(source="test")) as w:
        for adv in h.got:
            w.write(adv)
    _, read_back, stats = read_recording(path)
    assert stats.malformed == 0
    assert read_back == h.got

    beacon, token, eddy = h.got
    assert beacon.to_json() == {
        "t": T0 + 0.5,
        "rx": "rx-test",
        "addr": "C0:11:22:33:44:55",
        "rssi": -61,
        "tx_power": None,
        "name": None,
        "mfr": encode_ibeacon(UUID, 1, 7),
        "svc_data": {},
        "svc_uuids": [],
    }
    assert ibeacon_key_from_mfr(beacon.mfr) == UUID.replace("-", "") + "00010007"
    assert token_from_mfr(token.mfr, str(0xFFFF)) == TOKEN.hex()
    assert eddystone_uid_key_from_svc(eddy.svc_data) == NAMESPACE + INSTANCE
    # a 16-bit service UUID from a non-BlueZ backend still becomes the 128-bit form of the format
    assert eddy.svc_uuids == ["0000feaa-0000-1000-8000-00805f9b34fb"]
    assert eddy.tx_power == -4
    assert [a.t for a in h.got] == [T0 + 0.5, T0 + 1.0, T0 + 1.5]


async def test_missing_rssi_is_recorded_as_minus_127() -> None:
    script = Script(sessions=[[Emission("C0:00:00:00:00:09", advertisement_data(rssi=127))]])
    async with Harness(script) as h:
        await h.until(lambda: len(h.got) == 1)
    assert h.got[0].rssi == -127


def test_backoff_doubles_then_stays_at_the_cap() -> None:
    assert [backoff_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


BLUEZ_FAILURES: list[BaseException | None] = [
    BleakDBusError("org.bluez.Error.InProgress", []),
    BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]),
    FileNotFoundError(2, "No such file or directory"),
    BleakBluetoothNotAvailableError("No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH),
    BleakBluetoothNotAvailableError("powered off", BleakBluetoothNotAvailableReason.POWERED_OFF),
]


async def test_start_failures_are_retried_with_capped_exponential_backoff() -> None:
    script = Script(start_errors=list(BLUEZ_FAILURES), repeat=[ibeacon_emission(delay_s=0.01)])
    async with Harness(script) as h:
        await h.until(lambda: len(h.got) >= 2)
        assert h.source.state == "scanning"
    assert list(h.source.recent_backoffs_s) == [0.01, 0.02, 0.04, 0.08, 0.08]
    assert h.source.restarts == 5
    assert h.source.failed_starts == 5
    assert h.started == 1  # READY=1 once, after the first start that worked
    assert h.source.last_error is None
    assert h.source.state == "stopped"


async def test_each_kind_of_error_is_logged_once_with_a_clear_line(caplog: pytest.LogCaptureFixture) -> None:
    in_progress = BleakDBusError("org.bluez.Error.InProgress", [])
    no_dbus = FileNotFoundError(2, "No such file or directory")
    script = Script(
        start_errors=[in_progress, in_progress, in_progress, no_dbus, no_dbus], repeat=[ibeacon_emission(delay_s=0.01)]
    )
    with caplog.at_level(logging.INFO, logger="gateway.sources.live"):
        async with Harness(script) as h:
            await h.until(lambda: len(h.got) >= 1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "already in progress" in errors[0]
    assert "D-Bus" in errors[1]
    assert all("\n" not in m for m in errors)
    assert any("after 5 failed start(s)" in r.getMessage() for r in caplog.records)


async def test_backoff_state_and_last_error_are_visible_while_failing() -> None:
    failures: list[BaseException | None] = [BleakDBusError("org.bluez.Error.NotReady", [])] * 50
    async with Harness(Script(start_errors=failures), restart_backoff_max_s=0.02) as h:
        await h.until(lambda: h.source.failed_starts >= 3)
        assert h.source.state in ("backoff", "starting")
        assert h.source.last_error is not None and "not ready" in h.source.last_error
        assert h.started == 0


async def test_a_silent_scanner_is_restarted(caplog: pytest.LogCaptureFixture) -> None:
    first = [ibeacon_emission(), ibeacon_emission(-62)]
    script = Script(sessions=[first], repeat=[ibeacon_emission(-63, delay_s=0.01)])
    with caplog.at_level(logging.WARNING, logger="gateway.sources.live"):
        async with Harness(script, silence_restart_s=0.15) as h:
            await h.until(lambda: any(a.rssi == -63 for a in h.got))
            assert script.starts == 2
            assert script.stops == 1  # the silent scanner was stopped before the new one started
    assert h.source.silence_restarts == 1
    assert h.source.restarts == 1
    assert h.started == 1
    assert any("no advertisements for 0.15 s" in r.getMessage() for r in caplog.records)


async def test_a_scanner_that_keeps_talking_is_not_restarted() -> None:
    script = Script(repeat=[ibeacon_emission(delay_s=0.02)])
    # 20 ms apart against a 0.3 s watchdog: margin for a loaded CI machine
    async with Harness(script, silence_restart_s=0.3) as h:
        await asyncio.sleep(0.7)
    assert script.starts == 1
    assert h.source.silence_restarts == 0
    assert len(h.got) >= 5


async def test_a_failing_handler_never_reaches_bleak_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Advert] = []

    def handler(adv: Advert) -> None:
        calls.append(adv)
        raise ValueError(f"boom {adv.addr}")

    script = Script(repeat=[ibeacon_emission(delay_s=0.005)])
    source = LiveSource(settings(), handler, backend=ScriptedScanner, backend_kwargs={"script": script}, rx_name="rx")
    with caplog.at_level(logging.ERROR, logger="gateway.sources.live"):
        task = asyncio.create_task(source.run())
        while len(calls) < 5:
            await asyncio.sleep(0.005)
        await source.stop()
        await task
    assert source.callback_errors == len(calls) >= 5
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "ValueError" in messages[0]
    assert "C0:11" not in messages[0]  # the address stays out of the log


async def test_passive_mode_asks_bluez_for_the_flags_patterns_on_the_configured_adapter() -> None:
    script = Script()
    async with Harness(script, mode="passive", adapter="hci1") as h:
        await h.until(lambda: h.source.state == "scanning")
    seen = script.constructed[0]
    assert seen["scanning_mode"] == "passive"
    assert seen["bluez"]["adapter"] == "hci1"
    patterns = {(p[0], p[1], p[2]) for p in seen["bluez"]["or_patterns"]}
    assert patterns == {(0, AdvertisementDataType.FLAGS, b) for b in (b"\x02", b"\x06", b"\x1a")}


async def test_active_mode_sends_no_patterns() -> None:
    script = Script()
    async with Harness(script) as h:
        await h.until(lambda: h.source.state == "scanning")
    assert script.constructed[0] == {"scanning_mode": "active", "bluez": {}}


async def test_stop_during_backoff_returns_promptly() -> None:
    failures: list[BaseException | None] = [BleakDBusError("org.bluez.Error.NotReady", [])] * 5
    h = Harness(Script(start_errors=failures), restart_backoff_max_s=60.0)
    h.source.backoff_initial_s = 30.0
    async with h:
        await h.until(lambda: h.source.state == "backoff")
    assert h.source.state == "stopped"


async def test_status_carries_counters_and_no_addresses() -> None:
    script = Script(sessions=[[ibeacon_emission()]])
    async with Harness(script) as h:
        await h.until(lambda: len(h.got) == 1)
        status = h.source.status()
    assert status["adverts"] == 1
    assert status["state"] == "scanning"
    assert status["last_advert_at"] == T0 + 0.5
    assert "C0:11" not in repr(status)


async def test_a_long_silence_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(sessions=[[ibeacon_emission()], [], [], [], [ibeacon_emission(-64)]])
    with caplog.at_level(logging.INFO, logger="gateway.sources.live"):
        async with Harness(script, silence_restart_s=0.05) as h:
            await h.until(lambda: any(a.rssi == -64 for a in h.got))
    assert h.source.silence_restarts == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert any("advertisements again after 4 silent restart(s)" in r.getMessage() for r in caplog.records)


async def test_a_step_of_the_wall_clock_is_reported_before_the_first_advertisement_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Pi boots with the time it saved at shutdown and NTP steps it later: the pipeline must hear of the step
    before it sees a time from the new clock, and no advertisement may be lost to it."""
    wall = [T0, T0 + 1, T0 + 2, T0 - 3600 + 3, T0 - 3600 + 4, T0 - 3600 + 5 + 86_400]
    mono = iter([50.0, 51.0, 52.0, 53.0, 54.0, 55.0])
    seen: list[tuple[str, float | None, float]] = []
    got: list[Advert] = []

    def on_advert(adv: Advert) -> None:
        got.append(adv)
        seen.append(("advert", adv.t, 0.0))

    script = Script(sessions=[[ibeacon_emission() for _ in wall]])
    source = LiveSource(
        settings(),
        on_advert,
        backend=ScriptedScanner,
        backend_kwargs={"script": script},
        clock=iter(wall).__next__,
        monotonic=mono.__next__,
        rx_name="rx",
        on_clock_step=lambda last, step: seen.append(("step", last, step)),
    )
    with caplog.at_level(logging.WARNING, logger="gateway.sources.live"):
        task = asyncio.create_task(source.run())
        while len(got) < len(wall):
            await asyncio.sleep(0.005)
        await source.stop()
        await task
    assert [a.t for a in got] == wall
    steps = [(last, round(step, 3)) for kind, last, step in seen if kind == "step"]
    assert steps == [(T0 + 2, -3600.0), (T0 - 3600 + 4, 86_400.0)]
    # each step comes right before the advertisement that carries the new clock
    kinds = [kind for kind, *_ in seen]
    assert kinds == ["advert"] * 3 + ["step"] + ["advert"] * 2 + ["step", "advert"]
    assert source.status()["clock_steps"] == 2
    assert sum("wall clock stepped -3600.0 s" in r.getMessage() for r in caplog.records) == 1


async def test_a_clock_that_keeps_time_reports_no_step() -> None:
    """Advertisements seconds or an hour apart, the wall clock slewed by NTP within its 500 ppm: no step."""
    wall = [T0, T0 + 0.01, T0 + 3.0, T0 + 3603.0 + 1.5]
    mono = iter([7.0, 7.01, 10.0, 3610.0])
    got: list[Advert] = []
    steps: list[float] = []
    script = Script(sessions=[[ibeacon_emission() for _ in wall]])
    source = LiveSource(
        settings(),
        got.append,
        backend=ScriptedScanner,
        backend_kwargs={"script": script},
        clock=iter(wall).__next__,
        monotonic=mono.__next__,
        rx_name="rx",
        on_clock_step=lambda _last, step: steps.append(step),
    )
    task = asyncio.create_task(source.run())
    while len(got) < len(wall):
        await asyncio.sleep(0.005)
    await source.stop()
    await task
    assert steps == [] and source.clock_steps == 0
