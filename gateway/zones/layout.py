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
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.zones.model import COORD_LIMIT_M


class LayoutError(ValueError):
    """One line naming the file and, where it applies, the entry and field."""


@dataclass(frozen=True)
class Layout:
    receivers: dict[str, dict[str, float]]  # the recording header's `receivers` form
    zones: dict[str, dict[str, list[list[float]]]]  # the header's `zones` form: name -> {"polygon": [[x, y], ...]}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _far(value: float) -> str | None:
    # 1e308 overflowed the floor grid's arithmetic (a numpy RuntimeWarning) and the fit then could not write
    # zones.toml, which takes positions within this
    return f"{value:g} is not a position in metres within +-{COORD_LIMIT_M:g}" if abs(value) > COORD_LIMIT_M else None


def _tables(doc: dict[str, Any], key: str, path: Path) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each `[[key]]` table with the place to name in an error ("FILE: receiver 2") and its name (`id` of a
    receiver, `name` of a zone); a name given twice is refused once the entry has been checked."""
    entries = doc.get(key, [])
    if not isinstance(entries, list):
        raise LayoutError(f"{path}: '{key}' must be an array of tables ([[{key}]])")
    name_key = "id" if key == "receiver" else "name"
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: {key} {i + 1}"
        if not isinstance(entry, dict):
            raise LayoutError(f"{where}: must be a table")
        name = entry.get(name_key)
        if not isinstance(name, str) or not name.strip():
            raise LayoutError(f"{where}: field '{name_key}' must be a non-empty string")
        yield where, entry, name
        if name in seen:
            raise LayoutError(f"{where}: {name_key} {name!r} appears twice")
        seen.add(name)


def load_layout(path: Path) -> Layout:
    try:
        # a byte-order mark opens the file; zone names in one Unicode spelling (NFC), as the truth reader's
        doc = tomllib.loads(unicodedata.normalize("NFC", path.read_text(encoding="utf-8-sig")))
    except OSError as e:
        raise LayoutError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise LayoutError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise LayoutError(f"{path}: not valid TOML: {e}") from None
    receivers: dict[str, dict[str, float]] = {}
    for where, entry, rx in _tables(doc, "receiver", path):
        for key in ("x", "y"):
            if not _number(entry.get(key)):
                raise LayoutError(f"{where} ({rx}): field '{key}' must be a number (metres)")
            if problem := _far(entry[key]):
                raise LayoutError(f"{where} ({rx}): field '{key}': {problem}")
        receivers[rx] = {"x": float(entry["x"]), "y": float(entry["y"])}
    zones: dict[str, dict[str, list[list[float]]]] = {}
    for where, entry, name in _tables(doc, "zone", path):
        poly = entry.get("polygon")
        if not (
            isinstance(poly, list)
            and len(poly) >= 3
            and all(isinstance(p, list) and len(p) == 2 and _number(p[0]) and _number(p[1]) for p in poly)
        ):
            raise LayoutError(f"{where} ({name}): field 'polygon' must be at least three [x, y] points in metres")
        if problem := next(filter(None, (_far(v) for p in poly for v in p)), None):
            raise LayoutError(f"{where} ({name}): field 'polygon': {problem}")
        zones[name] = {"polygon": [[float(x), float(y)] for x, y in poly]}
    if not receivers or not zones:
        raise LayoutError(f"{path}: a layout needs at least one [[receiver]] and one [[zone]]")
    return Layout(receivers, zones)
