"""A store's floor plan for `calibrate fit --layout`: where the receivers hang and the zones' polygons.

A live walk's recording carries no positions (the gateway is not told where its receivers hang), so without
this the fit has no floor plan: no floor grid, no plan in the report, no check of which zones have a receiver.
The file is the store file `proximity-sim ceiling` checks a plan with (docs/simulator.md); only the receivers'
`id`, `x`, `y` and the zones' `name`, `polygon` are read here, so the plan checked in simulation is the plan the
fit uses, and the gateway needs nothing from the simulator.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class LayoutError(ValueError):
    """One line naming the file and, where it applies, the entry and field."""


@dataclass(frozen=True)
class Layout:
    receivers: dict[str, dict[str, float]]  # the recording header's `receivers` form
    zones: dict[str, dict[str, list[list[float]]]]  # the header's `zones` form: name -> {"polygon": [[x, y], ...]}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _name(entry: dict[str, Any], key: str, where: str) -> str:
    name = entry.get(key)
    if not isinstance(name, str) or not name.strip():
        raise LayoutError(f"{where}: field '{key}' must be a non-empty string")
    return name


def load_layout(path: Path) -> Layout:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LayoutError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise LayoutError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise LayoutError(f"{path}: not valid TOML: {e}") from None
    receivers: dict[str, dict[str, float]] = {}
    raw_receivers = doc.get("receiver", [])
    if not isinstance(raw_receivers, list):
        raise LayoutError(f"{path}: 'receiver' must be an array of tables ([[receiver]])")
    for i, entry in enumerate(raw_receivers):
        where = f"{path}: receiver {i + 1}"
        if not isinstance(entry, dict):
            raise LayoutError(f"{where}: must be a table")
        rx = _name(entry, "id", where)
        for key in ("x", "y"):
            if not _number(entry.get(key)):
                raise LayoutError(f"{where} ({rx}): field '{key}' must be a number (metres)")
        if rx in receivers:
            raise LayoutError(f"{where}: id {rx!r} appears twice")
        receivers[rx] = {"x": float(entry["x"]), "y": float(entry["y"])}
    zones: dict[str, dict[str, list[list[float]]]] = {}
    raw_zones = doc.get("zone", [])
    if not isinstance(raw_zones, list):
        raise LayoutError(f"{path}: 'zone' must be an array of tables ([[zone]])")
    for i, entry in enumerate(raw_zones):
        where = f"{path}: zone {i + 1}"
        if not isinstance(entry, dict):
            raise LayoutError(f"{where}: must be a table")
        name = _name(entry, "name", where)
        poly = entry.get("polygon")
        if not (
            isinstance(poly, list)
            and len(poly) >= 3
            and all(isinstance(p, list) and len(p) == 2 and _number(p[0]) and _number(p[1]) for p in poly)
        ):
            raise LayoutError(f"{where} ({name}): field 'polygon' must be at least three [x, y] points in metres")
        if name in zones:
            raise LayoutError(f"{where}: name {name!r} appears twice")
        zones[name] = {"polygon": [[float(x), float(y)] for x, y in poly]}
    if not receivers or not zones:
        raise LayoutError(f"{path}: a layout needs at least one [[receiver]] and one [[zone]]")
    return Layout(receivers, zones)
