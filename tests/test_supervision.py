"""The daemon's background loops: a failure in one second costs that second, and a loop that ends anyway ends
the process, so that systemd restarts it instead of a gateway that pings its watchdog with half its work stopped."""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.daemon import Daemon
from gateway.delivery.outbox import Outbox, queued_in
from gateway.identity.registry import Registry
from gateway.runtime import Runtime
from gateway.setup import LoadedConfig, load_config_dir
from gateway.sources import bluez_errors
from gateway.sources.scripted_backend import RecordingScanner
from simulator.localbroker import Mosquitto

DEMO = Path(__file__).resolve().parent.parent / "demo"


@pytest.fixture
def demo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadedConfig:
    shutil.copytree(DEMO, tmp_path / "demo")
    monkeypatch.setenv("PROXIMITY_MQTT__URL", "mqtt://127.0.0.1:9")  # never reached: nothing here needs a broker
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(tmp_path / "state"))
    return load_config_dir(tmp_path / "demo" / "config")


async def test_a_failing_second_of_housekeeping_does_not_stop_revocations(
    demo_config: LoadedConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One 'database is locked' past the busy timeout ended the loop for good: revocations made with the CLI
    never reached the running gateway again, and the health file stopped being written."""
    rt = Runtime(demo_config)
    real_poll = rt.poll_registry
    calls = []

    def locked_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        real_poll()

    monkeypatch.setattr(rt, "poll_registry", locked_once)
    stop = asyncio.Event()
    task = asyncio.create_task(rt.housekeeping(stop, report_receivers=False))
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.runtime"):
            for _ in range(100):  # the loop polls every second
                if len(calls) >= 2 or task.done():
                    break
                await asyncio.sleep(0.05)
        assert not task.done() and len(calls) >= 2
        customer = rt.pipeline.resolver.customer_ids()[0]
        with Registry(rt.registry.path) as cli:  # `customers revoke` in another process
            assert cli.revoke(customer)
        for _ in range(100):
            if customer not in rt.pipeline.resolver.customer_ids():
                break
            await asyncio.sleep(0.05)
        assert customer not in rt.pipeline.resolver.customer_ids()  # the running gateway stopped recognising them
        assert rt.housekeeping_errors == 1 and rt.health()["housekeeping_errors"] == 1
        assert any("housekeeping failed" in r.getMessage() and "database is locked" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
    finally:
        stop.set()
        await task
        rt.close()


async def test_the_health_file_is_written_while_housekeeping_keeps_failing(
    demo_config: LoadedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure every second (a registry on a disk that errors) also skipped the health file's write: `status`
    then said "not running" and never showed the errors (a review of the fix above)."""
    import json

    from gateway.runtime import HEALTH_FILE

    rt = Runtime(demo_config)

    def disk_error() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(rt, "poll_registry", disk_error)
    stop = asyncio.Event()
    task = asyncio.create_task(rt.housekeeping(stop, report_receivers=False))
    try:
        health = rt.state_dir / HEALTH_FILE
        for _ in range(100):
            if health.exists() and json.loads(health.read_text())["housekeeping_errors"] >= 2:
                break
            await asyncio.sleep(0.05)
        assert health.exists() and json.loads(health.read_text())["housekeeping_errors"] >= 2
    finally:
        stop.set()
        await task
        rt.close()


async def test_the_daemon_stops_with_exit_1_when_one_of_its_loops_ends(
    demo_config: LoadedConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`run` waited only for SIGTERM: a publisher that died left a gateway scanning, queueing and pinging the
    watchdog while nothing reached the broker, until someone looked."""
    monkeypatch.setenv("RECORDING_SCANNER_FILE", str(DEMO / "scans.jsonl.gz"))
    daemon = Daemon(demo_config, backend=RecordingScanner)

    async def publisher_dies() -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError("boom")

    monkeypatch.setattr(daemon.runtime.publisher, "run", publisher_dies)
    with caplog.at_level(logging.ERROR, logger="gateway.daemon"):
        code = await asyncio.wait_for(daemon.run(), timeout=30)
    assert code == 1
    assert any("the publisher task ended on its own: RuntimeError: boom" in r.getMessage() for r in caplog.records)


async def test_a_loop_that_ends_for_the_stop_is_no_failure(
    demo_config: LoadedConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The watchdog loop returns once the stop is asked for; when it did so in the same turn of the event loop as the
    stop itself, a SIGTERM'd daemon logged "the watchdog task ended on its own" and exited 1 (seen in the suite)."""
    monkeypatch.setenv("RECORDING_SCANNER_FILE", str(DEMO / "scans.jsonl.gz"))
    daemon = Daemon(demo_config, backend=RecordingScanner)

    async def watchdog_until_the_stop() -> None:
        await daemon.stop_event.wait()

    monkeypatch.setattr(daemon, "_watchdog", watchdog_until_the_stop)
    asyncio.get_running_loop().call_later(0.5, daemon.stop_event.set)
    with caplog.at_level(logging.ERROR, logger="gateway.daemon"):
        code = await asyncio.wait_for(daemon.run(), timeout=30)
    assert not [r.getMessage() for r in caplog.records if "ended on its own" in r.getMessage()]
    assert code == 0


def test_without_bluetooth_run_still_delivers_what_was_queued_and_says_why_in_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mosquitto: Mosquitto
) -> None:
    """A dead USB dongle: `run` waited for Bluetooth, gave up and exited, every restart the same, so the coupons
    and revocation notices it had queued before stayed in the outbox until someone fixed the adapter, and
    `status` said only "not running" (a fleet sweep)."""
    shutil.copytree(DEMO, tmp_path / "demo")
    state = tmp_path / "state"
    env = {"PROXIMITY_MQTT__URL": mosquitto.url, "PROXIMITY_STATE_DIR": str(state)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    state.mkdir()
    box = Outbox(state / "outbox.db")
    for i in range(3):
        box.put(f"t{i}", f"proximity/store-042/triggers/c{i}", {"trigger_id": f"t{i}"}, f"cust-000{i + 1}")
    box.close()
    # the real wait, with a check that never finds the adapter and a bound short enough for a test
    no_adapter = functools.partial(
        bluez_errors.wait_for_bluetooth, check=lambda _a: "no Bluetooth adapter (hci0)", timeout_s=0.5, poll_s=0.1
    )
    monkeypatch.setattr(bluez_errors, "wait_for_bluetooth", no_adapter)
    config = tmp_path / "demo" / "config"
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "3 queued messages delivered, 0 still queued, before stopping" in result.stderr
    assert result.stderr.strip().endswith("error: cannot scan: no Bluetooth adapter (hci0)")
    assert queued_in(state / "outbox.db") == 0
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["status", "--config", str(config)]).stdout
    assert "cannot scan: no Bluetooth adapter (hci0)" in shown
