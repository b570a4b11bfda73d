"""A receiver that stops hearing (its node, adapter or scanner died) is left out of the zones, and the store's IT
team is told: a warning in the log, the health file, `status`; and a line when it hears again."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from gateway.adverts import Advert
from gateway.runtime import Runtime
from tests.test_recall_restart import ADDRS, T0, config, loaded
from tests.test_receivers import status_table

__all__ = ["config"]  # the fixture, imported to be used here


def stand(rt: Runtime, zone: str, t0: float, seconds: float, silent: str | None) -> float:
    """cust-1 stands in `zone`, a packet every 0.5 s heard by every receiver that hears that zone on the walk,
    except `silent`; the runtime's housekeeping runs once a second. Returns the time after."""
    model = rt.loaded.zones
    ci = model.classes.index(zone)
    rng = np.random.default_rng(3)
    t = t0
    while t < t0 + seconds:
        for ri, rx in enumerate(model.receivers):
            if rx != silent and model.p_heard[ci, ri] > 0.5:
                rssi = model.mean[ci, ri] + rng.normal(0.0, 2.0)
                rt.handle(Advert(t, rx, ADDRS["cust-1"], round(float(rssi))))
        if (t - t0) % 1.0 == 0:
            rt.flush()
            rt.report_absent_receivers()
        t += 0.5
    return t


def loudest_at(rt: Runtime, zone: str) -> str:
    model = rt.loaded.zones
    ci = model.classes.index(zone)
    return model.receivers[int(np.argmax(model.p_heard[ci] * 100 + model.mean[ci]))]


def test_a_receiver_that_stops_hearing_is_named_left_out_and_taken_back(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    state = tmp_path / "state"
    rt = Runtime(loaded(config, state))
    try:
        dead = loudest_at(rt, "bakery")
        t = stand(rt, "bakery", T0, 20.0, silent=None)
        assert rt.pipeline.tracker.absent == frozenset()
        # a customer stands right by it, and it hears nothing: one slow phone takes minutes to be sure of (a store
        # full of them, seconds); until then the zones are estimated with it
        t = stand(rt, "bakery", t, 60.0, silent=dead)
        assert rt.pipeline.tracker.absent == frozenset()
        t = stand(rt, "bakery", t, 400.0, silent=dead)
        assert rt.pipeline.tracker.absent == {dead}
        warned = [r for r in caplog.records if r.levelno == logging.WARNING and repr(dead) in r.getMessage()]
        assert len(warned) == 1 and "estimated without it" in warned[0].getMessage()
        assert rt.health()["receivers_absent"] == [dead]
        rt.write_health()
        assert "receivers left out of the zones" in status_table(config, state)
        assert dead in status_table(config, state).split("receivers left out of the zones")[1].splitlines()[0]

        stand(rt, "bakery", t, 10.0, silent=None)  # it hears again
        assert rt.pipeline.tracker.absent == frozenset()
        assert any("hears again" in r.getMessage() and repr(dead) in r.getMessage() for r in caplog.records)
        assert rt.health()["receivers_absent"] == []
    finally:
        rt.close()


def test_a_receiver_silent_where_nobody_is_stays_in(config: Path, tmp_path: Path) -> None:
    """Silence far from every customer is what the walk expects of a live receiver: no alarm, no change."""
    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        model = rt.loaded.zones
        ci = model.classes.index("outside")
        quiet = [rx for ri, rx in enumerate(model.receivers) if model.p_heard[ci, ri] < 0.05]
        assert quiet, "the example store has receivers that do not hear the pavement"
        stand(rt, "outside", T0, 1200.0, silent=None)  # they hear nothing for twenty minutes
        assert rt.pipeline.tracker.absent == frozenset()
        assert rt.health()["receivers_absent"] == []
    finally:
        rt.close()
