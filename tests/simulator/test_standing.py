"""Phones standing still in simulated stores (simulator.standing): the standing rule the fit writes makes them change
zone less often, without placing them worse."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gateway.zones.calibrate import FIT_STILL_MOTION_DB, evaluate
from simulator.standing import standing_phones

STORES = Path(__file__).resolve().parents[2] / "simulator" / "stores"


@pytest.mark.parametrize("store", ["example", "small-kiosk"])
def test_standing_phones_change_zone_less_often_with_the_rule(store: str, tmp_path: Path) -> None:
    flaps = {"on": 0.0, "off": 0.0}
    accuracy = {"on": 0.0, "off": 0.0}
    for seed in (1, 2):
        day = standing_phones(STORES / f"{store}.toml", seed, 2, 4.0, tmp_path / str(seed))
        assert day.model.params.still_motion_db == FIT_STILL_MOTION_DB
        off = copy.deepcopy(day.model)
        off.params.still_motion_db = 0.0
        for name, model in (("on", day.model), ("off", off)):
            result = evaluate(model, day.adverts, day.truth)
            flaps[name] += result["flap_rate_per_min"]
            accuracy[name] += result["zone_accuracy"] / 2
    assert flaps["off"] > 0.5  # without the rule these phones do flap: the comparison is not vacuous
    assert flaps["on"] < 0.75 * flaps["off"]
    assert accuracy["on"] > accuracy["off"] - 0.01
