"""A regular's phone offset outlives a gateway restart (history.db), but not a refitted zones.toml, and not
their consent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gateway.adverts import Advert
from gateway.identity.registry import Registry
from gateway.runtime import Runtime
from gateway.setup import LoadedConfig, load_config_dir
from gateway.zones.model import ZoneModel

EXAMPLE = Path(__file__).resolve().parent.parent / "config"
ADDRS = {"cust-1": "C0:11:22:33:44:01", "cust-2": "C0:11:22:33:44:02"}
T0 = 1_772_438_400.0  # 2026-03-02 08:00 UTC


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "config"
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("state"))
    people = tmp_path / "customers.jsonl"
    rows = [
        {"customer_id": c, "consent": True, "identifiers": [{"kind": "address", "address": a}]}
        for c, a in ADDRS.items()
    ]
    people.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gw = d / "gateway.toml"
    gw.write_text(gw.read_text().replace('# customers_file = "customers.jsonl"', f'customers_file = "{people}"'))
    monkeypatch.setenv("PROXIMITY_MQTT__URL", "mqtt://127.0.0.1:9")  # never connected: no publisher runs here
    return d


def loaded(config: Path, state: Path) -> LoadedConfig:
    cfg = load_config_dir(config)
    cfg.gateway = cfg.gateway.model_copy(update={"state_dir": state})
    return cfg


def shop(rt: Runtime, customer: str, offset_db: float, t0: float, seconds: int = 90, leave: bool = True) -> None:
    """The customer's phone, `offset_db` louder than the walk's device, stands in the coffee corner and then at the
    bakery, a packet every 0.5 s heard by every receiver that hears those zones; then everyone leaves (if `leave`),
    and the runtime flushes as its housekeeping would."""
    model = rt.loaded.zones
    rng = np.random.default_rng(7)
    for k, zone in enumerate(("coffee", "bakery")):
        ci = model.classes.index(zone)
        for i in range(seconds * 2):
            t = t0 + k * seconds + i / 2
            for ri, rx in enumerate(model.receivers):
                if model.p_heard[ci, ri] > 0.5:
                    rssi = model.mean[ci, ri] + offset_db + rng.normal(0.0, 2.0)
                    rt.handle(Advert(t, rx, ADDRS[customer], round(float(rssi))))
    if leave:
        rt.finish()
    rt.flush()


def a_day_then_stopped(config: Path, state: Path, *visits: tuple[str, float, float]) -> None:
    """The gateway runs through the visits (customer, phone offset, start) and is stopped."""
    rt = Runtime(loaded(config, state))
    for customer, offset_db, t0 in visits:
        shop(rt, customer, offset_db, t0)
    rt.close()


def test_a_regular_starts_the_visit_after_a_restart_from_what_the_last_one_learnt(config: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = Runtime(loaded(config, state))
    shop(first, "cust-1", -8.0, T0)
    learnt = first.pipeline.tracker.recall.recall("cust-1")
    assert learnt is not None and learnt[0] < -4.0  # the visit learnt that the phone reads quiet
    first.close()

    again = Runtime(loaded(config, state))
    try:
        assert again.pipeline.tracker.recall.recall("cust-1") == pytest.approx(learnt)
        assert again.pipeline.tracker.recall.recall("cust-2") is None  # never seen: the prior
        rx = again.loaded.zones.receivers[0]
        again.handle(Advert(T0 + 86_400, rx, ADDRS["cust-1"], -70))
        assert again.pipeline.tracker._devices["cust-1"].offset == pytest.approx(learnt)
    finally:
        again.close()


def test_a_visit_under_way_when_the_gateway_stops_goes_on_with_what_it_learnt(config: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = Runtime(loaded(config, state))
    shop(first, "cust-1", -8.0, T0, leave=False)
    learnt = first.pipeline.tracker._devices["cust-1"].offset
    assert learnt is not None and learnt[0] < -4.0
    first.close()  # an update restarts the service while the customer is at the bakery

    again = Runtime(loaded(config, state))
    try:
        rx = again.loaded.zones.receivers[0]
        again.handle(Advert(T0 + 200, rx, ADDRS["cust-1"], -70))
        resumed = again.pipeline.tracker._devices["cust-1"].offset
        assert resumed is not None and resumed[0] == pytest.approx(learnt[0])
    finally:
        again.close()


def test_a_refitted_zone_model_starts_everyone_from_the_prior_and_drops_the_old_offsets(
    config: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    a_day_then_stopped(config, state, ("cust-1", -8.0, T0))
    zones = config / "zones.toml"
    model = ZoneModel.load(zones)
    model.mean = model.mean + 3.0  # a new walk with a louder device
    model.save(zones)

    refitted = Runtime(loaded(config, state))
    try:
        assert refitted.pipeline.tracker.recall.recall("cust-1") is None
        assert refitted.history.export_customer("cust-1")["phone_offset"] is None
    finally:
        refitted.close()


def test_a_customer_revoked_while_the_gateway_was_down_is_not_recalled_and_their_offset_is_erased(
    config: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    a_day_then_stopped(config, state, ("cust-1", -8.0, T0), ("cust-2", 6.0, T0 + 3600))
    registry = Registry(state / "registry.db")
    registry.revoke("cust-1")  # `proximity-gateway customers revoke` while the daemon is stopped
    registry.close()

    again = Runtime(loaded(config, state))
    try:
        assert again.pipeline.tracker.recall.recall("cust-1") is None
        assert again.pipeline.tracker.recall.recall("cust-2") is not None
        assert again.history.export_customer("cust-1")["phone_offset"] is None
    finally:
        again.close()
    assert b"cust-1" not in (state / "history.db").read_bytes()


def test_the_walk_level_check_starts_after_a_restart_from_the_offsets_kept(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Twelve regulars' phones all learnt to read 6 dB quieter than the walk's device: after a restart the check
    says so at once (level.py), instead of after ten more departures."""
    people = tmp_path / "customers.jsonl"  # the config fixture's customers file: twelve regulars more
    people.write_text(
        people.read_text()
        + "".join(
            json.dumps({"customer_id": f"cust-{k:02d}", "consent": True, "identifiers": [{"kind": "address",
                        "address": f"C0:11:22:33:55:{k:02X}"}]}) + "\n"
            for k in range(12)
        )
    )  # fmt: skip
    state = tmp_path / "state"
    first = Runtime(loaded(config, state))
    learnt = [(f"cust-{k:02d}", (-6.0 + k * 0.1, 1.5, T0 + k)) for k in range(12)]
    first.history.put_offsets(first._zones_digest, learnt)  # what twelve departures leave at a flush
    assert first.pipeline.tracker.level.summary() is None  # this run saw none of them leave
    first.close()

    second = Runtime(loaded(config, state))
    try:
        level = second.health()["device_level"]
        assert level is not None and level["devices"] == 12 and level["median_db"] == -5.5
        assert "quieter than the calibration walk's device" in level["warning"]
        with caplog.at_level("WARNING", logger="gateway"):
            second.report_level()
        assert any("quieter than the calibration walk's device" in r.getMessage() for r in caplog.records)
    finally:
        second.close()
