"""`calibrate fit --layout` reads the store files the simulator and `proximity-sim ceiling` read."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.zones.layout import LayoutError, load_layout
from simulator.store import load_store

STORES = Path(__file__).resolve().parents[2] / "simulator" / "stores"


@pytest.mark.parametrize("path", sorted(STORES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_store_file_is_a_layout_with_the_same_plan(path: Path) -> None:
    layout = load_layout(path)
    store = load_store(path)
    assert layout.receivers == {r.id: {"x": r.x, "y": r.y} for r in store.receiver}
    assert {z: v["polygon"] for z, v in layout.zones.items()} == {
        z.name: [[float(x), float(y)] for x, y in z.polygon] for z in store.zone
    }


def test_a_name_given_twice_is_named(tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(
        "[[receiver]]\nid = 'a'\nx = 1\ny = 1\n[[receiver]]\nid = 'a'\nx = 2\ny = 2\n"
        "[[zone]]\nname = 'z'\npolygon = [[0, 0], [1, 0], [1, 1]]\n"
    )
    with pytest.raises(LayoutError, match=r"p\.toml: receiver 2: id 'a' appears twice"):
        load_layout(plan)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match=r"missing\.toml: cannot read"):
        load_layout(tmp_path / "missing.toml")
