"""Receiver positions and zone polygons from a recording's header, checked: what is unreadable or implausible is
named in a warning and left out, never guessed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gateway.zones.grid import zones_without_receiver
from gateway.zones.model import COORD_LIMIT_M


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _within(v: Any, limit_m: float = COORD_LIMIT_M) -> bool:
    # zones.toml's limit by default: a polygon's 1e308 passed as a number, overflowed the floor grid's arithmetic
    # (a numpy RuntimeWarning) and then made the fitted model unwritable, blamed on the recording
    return _number(v) and abs(v) <= limit_m


def header_positions(
    d: dict[str, Any], key: str, warnings: list[str], limit_m: float = math.inf
) -> dict[str, tuple[float, float]]:
    """Positions from the recording header's `receivers` or `zones` (x/y, or a polygon's mean vertex), within
    `limit_m` of the origin; an entry that is there but unreadable is named in a warning and left out."""
    out: dict[str, tuple[float, float]] = {}
    for name, v in d.items():
        if isinstance(v, dict) and ("x" in v or "y" in v):
            if _within(v.get("x"), limit_m) and _within(v.get("y"), limit_m):
                out[name] = (float(v["x"]), float(v["y"]))
            else:
                within = f", within +-{limit_m:g}" if limit_m < math.inf else ""
                warnings.append(f"recording header: {key}.{name}: x and y must be numbers (metres{within}); left out")
        elif isinstance(v, dict) and isinstance(v.get("polygon"), list):
            pts = _polygon_points(v["polygon"])
            if pts is not None:
                out[name] = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
        elif isinstance(v, list | tuple) and len(v) == 2 and _within(v[0], limit_m) and _within(v[1], limit_m):
            out[name] = (float(v[0]), float(v[1]))
    return out


FAR_RECEIVER_M = 100.0  # a receiver this far outside the zones' bounding box is a typo (cm for m, a swapped axis)


def far_receivers(rx_pos: dict[str, tuple[float, float]], polygons: dict[str, list[tuple[float, float]]]) -> list[str]:
    xs = [x for poly in polygons.values() for x, _ in poly]
    ys = [y for poly in polygons.values() for _, y in poly]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    return sorted(
        rx
        for rx, (x, y) in rx_pos.items()
        if max(lo_x - x, x - hi_x, 0.0) > FAR_RECEIVER_M or max(lo_y - y, y - hi_y, 0.0) > FAR_RECEIVER_M
    )


def _polygon_points(poly: Any) -> list[tuple[float, float]] | None:
    """At least three [x, y] vertices in metres within COORD_LIMIT_M, or None."""
    if not isinstance(poly, list) or len(poly) < 3:
        return None
    pts = []
    for p in poly:
        if not (isinstance(p, list | tuple) and len(p) == 2 and _within(p[0]) and _within(p[1])):
            return None
        pts.append((float(p[0]), float(p[1])))
    return pts


def header_polygons(d: dict[str, Any], warnings: list[str]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for name, v in d.items():
        if not isinstance(v, dict) or "polygon" not in v:
            continue
        pts = _polygon_points(v["polygon"])
        if pts is None:
            warnings.append(
                f"recording header: zones.{name}.polygon: expected at least three [x, y] points in metres within "
                f"+-{COORD_LIMIT_M:g}; without it the floor grid is left out"
            )
        else:
            out[name] = pts
    return out


def header_geometry(
    receivers: dict[str, Any],
    zones: dict[str, Any],
    classes: Sequence[str],
    heard_rx: Sequence[str],
    warnings: list[str],
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]], dict[str, list[tuple[float, float]]]]:
    """Receiver positions, zone positions and the walked zones' polygons from the recording's header, with a
    warning (appended) for whatever is unreadable, implausible or missing for the floor grid."""
    rx_pos = header_positions(receivers, "receivers", warnings)
    # receivers far off are named below, with the polygons; a zone is where zones.toml takes it or nowhere
    z_pos = header_positions(zones, "zones", warnings, COORD_LIMIT_M)
    # only the walked zones: a polygon of a zone the model does not know would make the file unloadable
    polygons = {z: poly for z, poly in header_polygons(zones, warnings).items() if z in classes}
    far = far_receivers(rx_pos, polygons) if polygons else []
    if far:
        warnings.append(
            f"receivers placed far from the zones in the recording's header: {', '.join(far)}; check their "
            "positions (metres, in the zones' frame); the floor grid is left out"
        )
        rx_pos = {rx: p for rx, p in rx_pos.items() if rx not in far}
    if polygons and rx_pos and (bare := zones_without_receiver(rx_pos, polygons)):
        warnings.append(
            f"zones with no receiver inside: {', '.join(bare)}; in simulation such zones were the hardest to tell "
            "from their neighbours (one more receiver took the example store's coffee corner from 0.42 to 0.81 "
            "for an estimator that knows the radio map; docs/install-raspberry-pi.md, section 0)"
        )
    if rx_pos and (unplaced := [rx for rx in heard_rx if rx not in rx_pos and rx not in far]):
        warnings.append(
            f"receivers heard on the walk without a position in the recording's header: {', '.join(unplaced)}; "
            "the floor grid needs every receiver's position and is left out"
        )
    return rx_pos, z_pos, polygons
