"""Shared fixtures. MQTT tests get their own Mosquitto on a free loopback port, never the shared 1883."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.localbroker import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
