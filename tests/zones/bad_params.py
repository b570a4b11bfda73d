"""zones.toml with one bad `[params]` value: shared by the tests of each optional key (lag, standing rule, offset
learning), which must all fail the same way."""

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
