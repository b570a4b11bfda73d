"""Listens to the store's sightings topic for a while: `calibrate record` on the primary hears the reference
tag through every receiver node, not only through its own radio.

A short-lived client with its own identifier (the daemon's session must not be taken over) and a clean
session: a calibration walk only wants what is said while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiomqtt
from aiomqtt import MqttError

from gateway.config import MqttSettings
from gateway.delivery.publisher import CONNECT_TIMEOUT_S, tls_context
from gateway.delivery.topics import Topics
from gateway.sources.sightings import DecodedBatch, SightingsError, decode_batch

BatchCallback = Callable[[DecodedBatch], None]


async def listen_sightings(
    settings: MqttSettings,
    topics: Topics,
    client_id: str,
    on_batch: BatchCallback,
    stop: asyncio.Event,
    on_problem: Callable[[str], None],
    on_subscribed: Callable[[], None] | None = None,
) -> None:
    """Calls `on_batch` for every sightings batch of another receiver until `stop` is set.

    Never raises for the network: a broker that cannot be reached or drops the connection is reported
    once through `on_problem` and the listening ends (the walk goes on with the local radio)."""
    client = aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=client_id,
        clean_session=True,
        keepalive=settings.keepalive_s,
        timeout=CONNECT_TIMEOUT_S,
        tls_context=tls_context(settings),
    )
    pattern = topics.full("sightings/+")
    try:
        async with client:
            await client.subscribe(pattern, qos=0)
            if on_subscribed is not None:
                on_subscribed()
            reader = asyncio.create_task(_read(client, topics, on_batch, on_problem))
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (reader, stopper):
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
            if reader.done() and not reader.cancelled() and (exc := reader.exception()) is not None:
                raise exc
    except MqttError as e:
        where = f"{settings.host}:{settings.port}"
        on_problem(f"broker {where}: {e}; the other receivers are not heard for the rest of this walk")


async def _read(
    client: aiomqtt.Client, topics: Topics, on_batch: BatchCallback, on_problem: Callable[[str], None]
) -> None:
    refused: set[str] = set()
    async for message in client.messages:
        receiver = str(message.topic).rsplit("/", 1)[-1]
        if receiver == topics.gateway_id or not isinstance(message.payload, bytes | bytearray):
            continue
        try:
            batch = decode_batch(bytes(message.payload), receiver)
        except SightingsError as e:
            if receiver not in refused:  # once per receiver: a broken node must not flood the walk's screen
                refused.add(receiver)
                on_problem(f"sightings from {receiver} ignored: {e}")
            continue
        on_batch(batch)
