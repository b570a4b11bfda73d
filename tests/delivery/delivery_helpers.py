"""Test helpers for delivery: a blocking subscriber that records what the broker forwards.

The collector is a paho client on its own thread. Its (re)subscribe is a blocking call on purpose: called from
an async test right after a broker restart, it blocks the event loop, so the publisher under test cannot
reconnect and publish before the collector listens again. It subscribes at QoS 0 so that the broker holds no
unacknowledged data from it: a broker killed with SIGKILL then cannot reset the socket under unread messages.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

SUBSCRIBE_TIMEOUT_S = 5.0


class Collector:
    def __init__(self, port: int, topic: str = "#", **tls: Any) -> None:
        self.port = port
        self.topic = topic
        self.tls = tls
        self.messages: list[tuple[str, bytes, bool]] = []  # (topic, payload, retained)
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def subscribe(self, username: str | None = None, password: str | None = None) -> None:
        """Connect (again) and return once the broker has acknowledged the subscription."""
        self.close()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"collector-{uuid.uuid4().hex[:8]}")
        if self.tls:
            client.tls_set(**self.tls)
        if username is not None:
            client.username_pw_set(username, password)
        subscribed = threading.Event()
        client.on_message = self._on_message
        client.on_subscribe = lambda *_a: subscribed.set()
        client.on_connect = lambda c, *_a: c.subscribe(self.topic, qos=0)
        client.connect("127.0.0.1", self.port, keepalive=30)
        client.loop_start()
        self._client = client
        if not subscribed.wait(SUBSCRIBE_TIMEOUT_S):
            raise RuntimeError("collector: no SUBACK")

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def ids(self, key: str = "trigger_id") -> list[str]:
        out = []
        for topic, payload, _ in self.snapshot():
            if "/triggers/" in topic:
                out.append(json.loads(payload)[key])
        return out

    def wait(self, pred: Callable[[list[tuple[str, bytes, bool]]], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pred(self.snapshot()):
                return True
            time.sleep(0.02)
        return pred(self.snapshot())

    async def wait_async(self, pred: Callable[[list[tuple[str, bytes, bool]]], bool], timeout_s: float) -> bool:
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if pred(self.snapshot()):
                return True
            await asyncio.sleep(0.02)
        return pred(self.snapshot())


def trigger(i: int, customer: str, prefix: str = "proximity", store: str = "s1") -> tuple[str, str, dict[str, Any]]:
    """(msg_id, topic, payload) of a trigger numbered i."""
    msg_id = f"trg-{i:06d}"
    return msg_id, f"{prefix}/{store}/triggers/coffee-10", {"trigger_id": msg_id, "customer_id": customer, "seq": i}


class running:  # lower case: reads as a phrase, `async with running(pub):`
    """Runs `Publisher.run()` for the block, then stops it (bounded) so a hang fails the test."""

    def __init__(self, pub: Any, stop_timeout_s: float = 10.0) -> None:
        self.pub = pub
        self.stop_timeout_s = stop_timeout_s
        self.task: Any = None

    async def __aenter__(self) -> Any:
        import asyncio

        self.task = asyncio.create_task(self.pub.run())
        return self.pub

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        await asyncio.wait_for(self.pub.stop(), self.stop_timeout_s)
        await asyncio.wait_for(self.task, self.stop_timeout_s)


def statuses(msgs: list[tuple[str, bytes, bool]]) -> list[dict[str, Any]]:
    return [json.loads(p) for t, p, _ in msgs if t.endswith("/status")]
