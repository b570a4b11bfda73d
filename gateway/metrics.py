"""Opt-in Prometheus metrics, served on loopback unless configured otherwise.

prometheus_client is imported only when metrics are enabled, so a gateway installed without the
`metrics` extra runs unchanged. Labels are receivers and campaigns, never customers or addresses:
a scrape must not become a second, unconsented presence log.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from gateway.config import MetricsSettings

log = logging.getLogger(__name__)

NAMESPACE = "proximity"
MAX_RECEIVER_LABELS = 64  # receivers come from MQTT too: cap label values so a bad peer cannot blow up memory
OVERFLOW_LABEL = "other"


class Metrics:
    """Counters the daemon updates; every method is cheap and a no-op when metrics are disabled."""

    enabled = False

    def advert(self, rx: str) -> None:
        """One advertisement heard by receiver `rx` (ours or a remote node's)."""

    def recognised(self) -> None:
        """An advertisement matched a consenting customer."""

    def dropped(self) -> None:
        """An advertisement matched nobody and was dropped."""

    def trigger(self, campaign_id: str) -> None:
        """A coupon trigger was put in the outbox."""

    def publish_error(self) -> None:
        """A publish or connect attempt to the broker failed."""

    def set_outbox_depth(self, depth: int) -> None:
        """Messages waiting in the outbox."""

    def scanner(self, status: Mapping[str, Any]) -> None:
        """Takes `LiveSource.status()`: restarts, state and the time of the last advertisement."""

    def receivers_left_out(self, receivers: Iterable[str], left_out: Collection[str]) -> None:
        """Per receiver of zones.toml, whether the zones are estimated without it (dead, or its node offline)."""

    def render(self) -> bytes:
        """The exposition text (for tests and a future status endpoint)."""
        return b""

    def close(self) -> None:
        """Stops the HTTP server, if any."""


class PrometheusMetrics(Metrics):
    enabled = True

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        # a registry of our own: no process/platform collectors to surprise anyone, and tests can make many
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._adverts = Counter(
            "adverts", "Advertisements heard, per receiver", ["receiver"], namespace=NAMESPACE, registry=r
        )
        self._recognised = Counter(
            "recognised", "Advertisements of consenting customers", namespace=NAMESPACE, registry=r
        )
        self._dropped = Counter("dropped", "Advertisements of nobody we know, dropped", namespace=NAMESPACE, registry=r)
        self._triggers = Counter(
            "triggers", "Coupon triggers queued, per campaign", ["campaign"], namespace=NAMESPACE, registry=r
        )
        self._publish_errors = Counter(
            "publish_errors", "Failed broker publishes or connects", namespace=NAMESPACE, registry=r
        )
        self._outbox = Gauge("outbox_depth", "Messages waiting in the outbox", namespace=NAMESPACE, registry=r)
        self._restarts = Counter(
            "scanner_restarts", "Scanner restarts (errors and silences)", namespace=NAMESPACE, registry=r
        )
        self._scanning = Gauge("scanner_scanning", "1 while the scanner is scanning", namespace=NAMESPACE, registry=r)
        self._last_advert = Gauge(
            "scanner_last_advert_timestamp_seconds",
            "When the scanner last heard anything",
            namespace=NAMESPACE,
            registry=r,
        )
        # the receivers of zones.toml (bounded by the file, not by what arrives over MQTT)
        self._left_out = Gauge(
            "receiver_left_out",
            "1 while the zones are estimated without this receiver (silent where it should hear, or its node offline)",
            ["receiver"],
            namespace=NAMESPACE,
            registry=r,
        )
        self._receiver_children: dict[str, Any] = {}
        self._restarts_seen = 0
        self._server: Any = None

    def advert(self, rx: str) -> None:
        child = self._receiver_children.get(rx)
        if child is None:
            if len(self._receiver_children) < MAX_RECEIVER_LABELS:
                child = self._receiver_children[rx] = self._adverts.labels(receiver=rx)
            else:  # not kept per name either: names past the cap would grow the dict as they would the labels
                child = self._adverts.labels(receiver=OVERFLOW_LABEL)
        child.inc()

    def recognised(self) -> None:
        self._recognised.inc()

    def dropped(self) -> None:
        self._dropped.inc()

    def trigger(self, campaign_id: str) -> None:
        self._triggers.labels(campaign=campaign_id).inc()

    def publish_error(self) -> None:
        self._publish_errors.inc()

    def set_outbox_depth(self, depth: int) -> None:
        self._outbox.set(depth)

    def scanner(self, status: Mapping[str, Any]) -> None:
        restarts = int(status.get("restarts", 0))
        if restarts > self._restarts_seen:
            self._restarts.inc(restarts - self._restarts_seen)
        self._restarts_seen = restarts
        self._scanning.set(1 if status.get("state") == "scanning" else 0)
        last = status.get("last_advert_at")
        if last is not None:
            self._last_advert.set(float(last))

    def receivers_left_out(self, receivers: Iterable[str], left_out: Collection[str]) -> None:
        for rx in receivers:
            self._left_out.labels(receiver=rx).set(1 if rx in left_out else 0)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def serve(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server

    @property
    def port(self) -> int | None:
        return int(self._server.server_port) if self._server is not None else None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def start_metrics_server(settings: MetricsSettings) -> Metrics:
    """The daemon's metrics: a no-op object unless `[metrics] enabled = true` and prometheus_client is installed.

    port 0 picks a free port (tests); a port already in use is logged and metrics stay off, because
    observability must not stop the gateway from working.
    """
    if not settings.enabled:
        return Metrics()
    try:
        metrics = PrometheusMetrics()
    except ImportError:
        log.warning("metrics enabled but prometheus_client is not installed (pip install 'proximity-gateway[metrics]')")
        return Metrics()
    try:
        metrics.serve(settings.host, settings.port)
    except OSError as e:
        log.error(
            "metrics server cannot listen on %s:%d: %s; metrics disabled", settings.host, settings.port, e.strerror
        )
        return Metrics()
    log.info("metrics on http://%s:%d/metrics", settings.host, metrics.port)
    return metrics
