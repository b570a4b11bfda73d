"""benchmarks/random_layouts.py: the layouts it writes are stores the simulator accepts, the zones tile the floor,
and a seed writes the same files again (the figures quoted for them in docs/zones.md depend on it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from simulator.store import load_store

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "random_layouts.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("random_layouts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["random_layouts"] = module
    spec.loader.exec_module(module)
    return module


def test_every_layout_loads_and_its_zones_tile_the_floor(tmp_path: Path) -> None:
    paths = _script().write_layouts(tmp_path, 25, 100)
    assert len(paths) == 25
    for path in paths:
        store = load_store(path)
        assert 3 <= len(store.receiver) <= 12
        assert abs(sum(z.area_m2 for z in store.zone) - store.width * store.height) < 0.05 * store.width
    assert len({load_store(p).width for p in paths}) > 20  # drawn, not one layout repeated


def test_a_seed_writes_the_same_layouts(tmp_path: Path) -> None:
    script = _script()
    first = [p.read_text() for p in script.write_layouts(tmp_path / "a", 5, 100)]
    assert first == [p.read_text() for p in script.write_layouts(tmp_path / "b", 5, 100)]
    assert first != [p.read_text() for p in script.write_layouts(tmp_path / "c", 5, 101)]
