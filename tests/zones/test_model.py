from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.zones.calibrate import FitResult
from gateway.zones.model import Params, ZoneModel, ZonesError


def test_saved_model_loads_back_identically_and_is_readable(fitted: FitResult, tmp_path: Path) -> None:
    path = tmp_path / "zones.toml"
    fitted.model.save(path)
    text = path.read_text()
    assert "[fingerprint.zone-a.rx-0]" in text or 'fingerprint."zone-a"' in text or "zone-a" in text
    back = ZoneModel.load(path)
    assert back.zones == fitted.model.zones
    assert back.receivers == fitted.model.receivers
    assert back.params == fitted.model.params
    np.testing.assert_allclose(back.mean, fitted.model.mean, atol=0.01)
    assert set(back.pathloss) == set(fitted.model.pathloss)


def _edit(fitted: FitResult, tmp_path: Path, change: object) -> Path:
    doc = fitted.model.to_toml()
    change(doc)  # type: ignore[operator]
    p = tmp_path / "zones.toml"
    p.write_text(tomli_w.dumps(doc))
    return p


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["params"].__setitem__("switch_time_s", "slow"), "params.switch_time_s"),
        (lambda d: d["params"].__setitem__("method", "magic"), "params.method"),
        (lambda d: d["params"].__setitem__("confidence_threshold", 1.5), "params.confidence_threshold"),
        (lambda d: d["params"].__setitem__("typo_key", 1), "params.typo_key"),
        (lambda d: d["fingerprint"]["zone-b"].pop("rx-1"), "fingerprint.zone-b.rx-1"),
        (lambda d: d["fingerprint"]["zone-c"]["rx-2"].__setitem__("std", 0), "fingerprint.zone-c.rx-2.std"),
        (lambda d: d["fingerprint"]["zone-c"]["rx-2"].__setitem__("mean", 30), "fingerprint.zone-c.rx-2.mean"),
        (lambda d: d.__setitem__("zones", "zone-a"), "zones"),
        (lambda d: d["receiver"]["rx-0"].__setitem__("exponent", 40), "receiver.rx-0.exponent"),
        (lambda d: d["receiver"].__setitem__("rx-ghost", {}), "receiver.rx-ghost"),
        # values no radio or store has: a spread of 1e-300 dB underflowed to a division by zero when the
        # gateway started, 1e300 silenced every estimate, and `config check` passed both
        (lambda d: d["fingerprint"]["zone-c"]["rx-2"].__setitem__("std", 1e-300), "fingerprint.zone-c.rx-2.std"),
        (lambda d: d["fingerprint"]["zone-c"]["rx-2"].__setitem__("std", 1e300), "fingerprint.zone-c.rx-2.std"),
        (lambda d: d["receiver"]["rx-0"].__setitem__("rssi_at_1m", 1e300), "receiver.rx-0.rssi_at_1m"),
        (lambda d: d["receiver"]["rx-0"].update(x=1e9, y=0.0), "receiver.rx-0.x"),
        (lambda d: d["zones"].append("unknown"), "zones"),
        (lambda d: d.__setitem__("zone_polygon", {"zone-a": [[0, 0], [1e6, 0], [0, 5]]}), "zone_polygon.zone-a"),
    ],
)
def test_hand_edit_mistakes_name_file_and_field(fitted: FitResult, tmp_path: Path, change: object, field: str) -> None:
    path = _edit(fitted, tmp_path, change)
    with pytest.raises(ZonesError) as e:
        ZoneModel.load(path)
    assert str(path) in str(e.value)
    assert field in str(e.value)
    assert "\n" not in str(e.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "zones.toml"
    bad.write_text("zones = [")
    with pytest.raises(ZonesError, match="not valid TOML"):
        ZoneModel.load(bad)
    with pytest.raises(ZonesError, match="no such zones file"):
        ZoneModel.load(tmp_path / "missing.toml")


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_.é 0123456789", min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(
    zones=st.lists(names.filter(lambda s: s != "outside"), min_size=1, max_size=4, unique=True),
    receivers=st.lists(names, min_size=1, max_size=4, unique=True),
    data=st.data(),
)
def test_any_names_round_trip(zones: list[str], receivers: list[str], data: st.DataObject) -> None:
    shape = (len(zones), len(receivers))
    mean = np.array(
        data.draw(st.lists(st.integers(-110, -30), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1])),
        dtype=float,
    ).reshape(shape)
    m = ZoneModel(zones, receivers, list(zones), mean, np.full(shape, 3.5), np.full(shape, 0.5), Params())
    back = ZoneModel.from_toml(tomllib.loads(tomli_w.dumps(m.to_toml())))
    assert back.zones == zones
    assert back.receivers == receivers
    np.testing.assert_allclose(back.mean, mean)


def test_a_grid_too_fine_for_the_floor_is_refused_at_load(fitted: FitResult, tmp_path: Path) -> None:
    """The grid method's memory and time grow with its cells: 0.25 m cells over 100 x 100 m are 160,000."""
    doc = fitted.model.to_toml()
    doc["zone_polygon"] = {"zone-a": [[0, 0], [100, 0], [100, 100], [0, 100]]}
    doc["params"]["method"] = "grid"
    doc["params"]["grid_cell_m"] = 0.25
    for rx in doc["receivers"]:
        doc["receiver"][rx].update(sigma_db=5.0, sensitivity_dbm=-95.0, heard_slope_per_db=0.3)
    path = tmp_path / "zones.toml"
    path.write_text(tomli_w.dumps(doc))
    with pytest.raises(ZonesError, match=r"params.grid_cell_m.*160,000 cells"):
        ZoneModel.load(path)
    doc["params"]["grid_cell_m"] = 1.0  # 10,000 cells
    path.write_text(tomli_w.dumps(doc))
    assert ZoneModel.load(path).params.method == "grid"


def test_a_zones_file_saved_with_a_byte_order_mark_loads(fitted: FitResult, tmp_path: Path) -> None:
    path = tmp_path / "zones.toml"
    fitted.model.save(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert ZoneModel.load(path).zones == fitted.model.zones


@pytest.mark.parametrize(
    ("change", "words"),
    [
        # `[param]` for `[params]`: every fitted setting silently fell back to the defaults (on the example walk
        # the zone accuracy went from 0.93 to 0.88) and `calibrate evaluate` and `config check` passed the file
        (lambda d: d.__setitem__("param", d.pop("params")), "field 'param' is unknown"),
        (lambda d: d.__setitem__("colour", "red"), "field 'colour' is unknown"),
        # a zone added to `zones` alone: no fingerprint, so never estimated, yet campaigns on it validated
        (lambda d: d["zones"].append("zone-new"), "'zone-new'"),
    ],
)
def test_hand_edits_that_loaded_silently_are_named(
    fitted: FitResult, tmp_path: Path, change: object, words: str
) -> None:
    path = _edit(fitted, tmp_path, change)
    with pytest.raises(ZonesError) as e:
        ZoneModel.load(path)
    assert str(path) in str(e.value) and words in str(e.value)
    assert "\n" not in str(e.value)


def test_the_digest_follows_what_the_model_says_not_how_the_file_is_written(fitted: FitResult, tmp_path: Path) -> None:
    """The daemon keeps learnt phone offsets under the digest: a restart must find them again, a refit must not."""
    path = tmp_path / "zones.toml"
    fitted.model.save(path)
    digest = ZoneModel.load(path).digest()
    assert ZoneModel.load(path).digest() == digest
    path.write_text("# walked on Tuesday with tag 7\n" + path.read_text())  # a comment staff added
    assert ZoneModel.load(path).digest() == digest
    louder = ZoneModel.load(path)
    louder.mean = louder.mean + 0.5  # another walk's device
    louder.save(path)
    assert ZoneModel.load(path).digest() != digest


def test_every_hand_edit_mistake_is_named_at_once(fitted: FitResult, tmp_path: Path) -> None:
    """A misspelt parameter, a p_heard over 1 and spreads set to 0 took one run of `config check` each."""

    def edits(d: dict[str, Any]) -> None:
        d["params"]["confrim_s"] = 2.0
        d["params"]["method"] = "magic"
        for c in ("zone-a", "zone-b"):
            d["fingerprint"][c]["rx-1"]["std"] = 0
        d["fingerprint"]["zone-c"]["rx-2"]["p_heard"] = 1.5

    path = _edit(fitted, tmp_path, edits)
    with pytest.raises(ZonesError) as e:
        ZoneModel.load(path)
    assert e.value.problems == [
        f"{path}: field 'params.method' = 'magic', expected one of offset_nb, nb, centroid, strongest, grid",
        f"{path}: field 'params.confrim_s' is unknown (did you mean 'confirm_s'?)",
        f"{path}: field 'fingerprint.zone-a.rx-1.std' = 0 is not within 0.1..100 dB",
        f"{path}: field 'fingerprint.zone-b.rx-1.std' = 0 is not within 0.1..100 dB",
        f"{path}: field 'fingerprint.zone-c.rx-2.p_heard' must be within 0..1",
    ]
