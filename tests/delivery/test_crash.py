"""A gateway SIGKILLed mid-publish and restarted on the same state delivers every message at least once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from delivery_helpers import Collector

from gateway.delivery.outbox import Outbox
from simulator.localbroker import Mosquitto

HERE = Path(__file__).parent
N_MESSAGES = 2000


def start_gateway(db: Path, broker: Mosquitto, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "publisher_proc.py"),
            "--db",
            str(db),
            "--url",
            broker.url,
            "--count",
            str(count),
            "--max-in-flight",
            "4",
        ],
        stdout=subprocess.DEVNULL,
    )


def test_sigkill_mid_publish_then_restart_delivers_everything(mosquitto: Mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "state" / "outbox.db"
    collector = Collector(mosquitto.port, "proximity/s1/triggers/#")
    collector.subscribe()
    first = start_gateway(db, mosquitto, N_MESSAGES)
    try:
        assert collector.wait(lambda _m: len(collector.ids()) >= 200, 20), "first gateway published nothing"
    finally:
        first.kill()
        first.wait()
    left = Outbox(db).depth()
    assert 0 < left < N_MESSAGES, "the kill must land mid-publish"

    second = start_gateway(db, mosquitto, 0)  # same state, nothing new: only what the first one left
    try:
        expected = {f"trg-{i:06d}" for i in range(N_MESSAGES)}
        assert collector.wait(lambda _m: set(collector.ids()) == expected, 30)
    finally:
        second.terminate()  # SIGTERM: the clean stop path
        second.wait(timeout=15)
    assert second.returncode == 0
    assert Outbox(db).depth() == 0
    for _topic, payload, _ in collector.snapshot():
        msg = json.loads(payload)
        assert msg["trigger_id"] == f"trg-{msg['seq']:06d}"  # the original id, with its original payload
    collector.close()
