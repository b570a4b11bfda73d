"""The optional `[params]` keys that `calibrate fit` writes as product defaults (lag, standing rule, offset
learning, centroid term): each must round-trip, leave older files deciding as before, and fail the same way on a
bad value. Shared by the tests of each."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from gateway.zones.model import ZoneModel, ZonesError


def assert_one_line_error(model: ZoneModel, tmp_path: Path, key: str, value: object) -> None:
    """Loading a zones.toml whose `params.<key>` is `value` fails with one line naming the file and the field."""
    doc = model.to_toml()
    doc["params"][key] = value
    path = tmp_path / "zones.toml"
    path.write_text(tomli_w.dumps(doc))
    with pytest.raises(ZonesError) as e:
        ZoneModel.load(path)
    msg = str(e.value)
    assert "\n" not in msg and "zones.toml" in msg and f"'params.{key}'" in msg


def assert_written_and_optional(model: ZoneModel, tmp_path: Path, keys: tuple[str, ...], default: float) -> None:
    """The fit wrote `default` for keys[0]; the file round-trips; a file without `keys` (written before them)
    loads with keys[0] at 0, i.e. off."""
    assert getattr(model.params, keys[0]) == default
    path = tmp_path / "zones.toml"
    model.save(path)
    assert ZoneModel.load(path).params == model.params
    doc = model.to_toml()
    for key in keys:
        del doc["params"][key]
    path.write_text(tomli_w.dumps(doc))
    assert getattr(ZoneModel.load(path).params, keys[0]) == 0.0
