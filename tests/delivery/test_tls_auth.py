"""mqtts:// with a private CA, a client certificate and a password file; wrong credentials lose nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from delivery_helpers import Collector, running, trigger
from tls_material import TlsFiles, make_tls_files

from gateway.config import MqttSettings
from gateway.delivery.outbox import Outbox
from gateway.delivery.publisher import Publisher
from simulator.localbroker import Mosquitto, free_port

TEST_TIMEOUT_S = 30
GOOD_PASSWORD = "correct-horse-battery"
WRONG_PASSWORD = "wrong-but-secret-9f2a"


def passwd(path: Path, user: str, password: str) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    create = [] if path.exists() else ["-c"]
    subprocess.run([tool, *create, "-b", str(path), user, password], check=True, capture_output=True)


@pytest.fixture
def tls_broker(tmp_path: Path) -> tuple[Mosquitto, TlsFiles, Path]:
    work = tmp_path / "tlsbroker"
    work.mkdir()
    files = make_tls_files(work)
    pw = work / "passwords"
    passwd(pw, "gw1", GOOD_PASSWORD)
    passwd(pw, "watcher", GOOD_PASSWORD)
    port = free_port()
    conf = (
        f"listener {port} 127.0.0.1\n"
        f"cafile {files.ca}\ncertfile {files.server_cert}\nkeyfile {files.server_key}\n"
        "require_certificate true\n"
        # Started as root, mosquitto would drop to its own user and could not read files in pytest's 0700 dirs.
        + ("user root\n" if os.geteuid() == 0 else "")
        + f"password_file {pw}\nallow_anonymous false\n"
    )
    broker = Mosquitto(work, port=port, extra_conf=conf)
    broker.start()
    yield broker, files, pw
    broker.stop()


def settings_for(broker: Mosquitto, files: TlsFiles, password: str) -> MqttSettings:
    return MqttSettings(
        url=f"mqtts://127.0.0.1:{broker.port}",
        username="gw1",
        password=password,
        ca_file=files.ca,
        cert_file=files.client_cert,
        key_file=files.client_key,
        reconnect_max_s=0.5,
    )


def watcher(broker: Mosquitto, files: TlsFiles) -> Collector:
    c = Collector(
        broker.port,
        "proximity/#",
        ca_certs=str(files.ca),
        certfile=str(files.client_cert),
        keyfile=str(files.client_key),
    )
    c.subscribe("watcher", GOOD_PASSWORD)
    return c


async def test_tls_client_certificate_and_password(
    tls_broker: tuple[Mosquitto, TlsFiles, Path], tmp_path: Path
) -> None:
    broker, files, _ = tls_broker
    collector = watcher(broker, files)
    box = Outbox(tmp_path / "o.db")
    msg_id, topic, payload = trigger(1, "c1")
    box.put(msg_id, topic, payload, "c1")
    pub = Publisher(settings_for(broker, files, GOOD_PASSWORD), box, "s1", "gw1", "v")
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        assert await pub.drain(10) == 0
        assert await collector.wait_async(lambda _m: collector.ids() == [msg_id], 5)
    collector.close()


async def test_bad_password_is_reported_keeps_the_queue_and_recovers(
    tls_broker: tuple[Mosquitto, TlsFiles, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker, files, pw = tls_broker
    box = Outbox(tmp_path / "o.db")
    for i in range(20):
        box.put(*trigger(i, "c1"), customer_id="c1")
    pub = Publisher(settings_for(broker, files, WRONG_PASSWORD), box, "s1", "gw1", "v")
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        assert await pub.drain(1.0) == 20
        assert not pub.connected
        error = pub.last_error
        assert error is not None and "\n" not in error
        assert "not authori" in error.lower() or "bad user name or password" in error.lower(), error
        # The operator fixes the credentials on the broker side; the running gateway catches up by itself.
        passwd(pw, "gw1", WRONG_PASSWORD)
        broker.stop()
        broker.start()
        collector = watcher(broker, files)
        assert await pub.drain(15) == 0
        assert await collector.wait_async(lambda _m: len(set(collector.ids())) == 20, 5)
        collector.close()
    assert WRONG_PASSWORD not in caplog.text and WRONG_PASSWORD not in (pub.last_error or "")


async def test_unreadable_ca_file_is_an_error_line_not_a_crash(tmp_path: Path) -> None:
    settings = MqttSettings(url="mqtts://127.0.0.1:1", ca_file=tmp_path / "missing-ca.pem", reconnect_max_s=0.2)
    pub = Publisher(settings, Outbox(tmp_path / "o.db"), "s1", "gw1", "v")
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        for _ in range(100):
            if pub.last_error:
                break
            await asyncio.sleep(0.02)
        assert pub.last_error is not None and pub.last_error.startswith("tls setup:"), pub.last_error
        assert not pub.connected
