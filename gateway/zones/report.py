"""The calibration report as a PNG: RSSI against distance per receiver, floor plan, cross-validated confusion.

The floor plan is what store staff look at first: each zone drawn as walked, coloured by how often the walk's
cross-validation placed it right, and hatched when no receiver stands in it, so a weak zone and its likely cause
show on the plan rather than only in a matrix. matplotlib is optional on a Pi: `write_report` returns False when
it is not importable.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gateway.zones.estimate import OUTSIDE
from gateway.zones.grid import points_in_polygon, zones_without_receiver
from gateway.zones.model import ZoneModel

_GLYPH = re.compile(r"^Glyph (\d+) .*missing from font")


@contextlib.contextmanager
def glyphs_noted(path: str | os.PathLike[str], notes: list[str]) -> Iterator[None]:
    """matplotlib warns once per missing character ("Glyph 26085 ... missing from font(s) DejaVu Sans.", with a
    source line), ten lines for a Japanese zone name: one note instead, naming the characters drawn as boxes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    missing = []
    for w in caught:
        m = _GLYPH.match(str(w.message))
        if m is None:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif (c := chr(int(m.group(1)))) not in missing:
            missing.append(c)
    if missing:
        notes.append(
            f"{path}: the plot's font has no glyph for {''.join(missing)!r}: those characters of zone names show as "
            "boxes (install a font that has them, e.g. fonts-noto-cjk, for matplotlib to find)"
        )


@dataclass(frozen=True)
class PlanZone:
    name: str
    polygon: list[tuple[float, float]]
    recall: float | None  # share of the zone's cross-validated steps placed in it; None: no steps
    has_receiver: bool


def _shares(model: ZoneModel, report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per true class with cross-validated steps: where its steps were placed, as shares of them."""
    labels: list[str] = list(report.get("classes", model.classes))
    conf = np.array(report.get("cv_confusion", []), dtype=np.float64)
    if conf.shape != (len(labels), len(labels)):
        return {}
    return {
        z: {e: float(conf[i, j] / total) for j, e in enumerate(labels)}
        for i, z in enumerate(labels)
        if (total := conf[i].sum()) > 0
    }


def _bare_zones(model: ZoneModel, report: dict[str, Any]) -> tuple[dict[str, list[tuple[float, float]]], set[str]]:
    """The walk's polygons and the zones among them no receiver stands in."""
    # the fit's report has the walk's polygons even where the model keeps none (one receiver: no grid)
    polygons: dict[str, list[tuple[float, float]]] = report.get("zone_polygons") or model.zone_polygons
    rx = model.receiver_positions
    return polygons, set(zones_without_receiver(rx, polygons)) if rx and polygons else set()


def plan_zones(model: ZoneModel, report: dict[str, Any]) -> list[PlanZone]:
    """The zones the floor plan draws (those with polygons), each with its cross-validated recall."""
    shares = _shares(model, report)
    polygons, bare = _bare_zones(model, report)
    return [
        PlanZone(z, [(float(x), float(y)) for x, y in poly], shares[z][z] if z in shares else None, z not in bare)
        for z, poly in polygons.items()
    ]


CONTACT_GAP_M = 0.5  # zones drawn by hand leave slivers between them: closer than this counts as touching
MIN_CONTACT_M = 1.5  # a shared side at least this long; two rectangles meeting at a corner share at most 2 gaps


def adjacent(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    """Whether two zone polygons share a side: the length of `a`'s outline within CONTACT_GAP_M of `b`'s."""
    step = 0.1
    contact = 0.0
    for (x0, y0), (x1, y1) in zip(a, [*a[1:], a[0]], strict=True):
        length = math.hypot(x1 - x0, y1 - y0)
        n = min(max(1, math.ceil(length / step)), 2000)  # a 10 km side (the loader's bound) in 5 m steps
        for k in range(n):
            f = (k + 0.5) / n
            if _to_outline(x0 + f * (x1 - x0), y0 + f * (y1 - y0), b) <= CONTACT_GAP_M:
                contact += length / n
                if contact >= MIN_CONTACT_M:
                    return True
    return False


def _to_outline(x: float, y: float, poly: list[tuple[float, float]]) -> float:
    best = math.inf
    for (x0, y0), (x1, y1) in zip(poly, [*poly[1:], poly[0]], strict=True):
        dx, dy = x1 - x0, y1 - y0
        f = 0.0 if dx == dy == 0 else min(1.0, max(0.0, ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(x - x0 - f * dx, y - y0 - f * dy))
    return best


LABEL_GRID = 24  # candidate spots per side of a zone's bounding box for its label

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the plan's metres


def label_spot(poly: list[tuple[float, float]], size: tuple[float, float], obstacles: list[Box]) -> tuple[float, float]:
    """Where the centre of a zone's label of `size` (width, height) goes: its box inside the zone, as clear of the
    outline and of `obstacles` (receivers' markers with their names) as the zone allows, and among spots clear
    alike the one nearest the zone's middle. The vertices' mean put an L-shaped zone's name outside it, and a
    receiver standing near a zone's centre wrote its name over the zone's."""
    xs, ys = [x for x, _ in poly], [y for _, y in poly]
    mean = (sum(xs) / len(xs), sum(ys) / len(ys))
    steps = (np.arange(LABEL_GRID) + 0.5) / LABEL_GRID
    mx, my = np.meshgrid(min(xs) + steps * (max(xs) - min(xs)), min(ys) + steps * (max(ys) - min(ys)))
    gx, gy = mx.ravel(), my.ravel()
    shape = np.asarray(poly, dtype=np.float64)
    inside = points_in_polygon(gx, gy, shape)
    x, y = gx[inside], gy[inside]
    hw, hh = size[0] / 2, size[1] / 2
    corners = [(x + sx * hw, y + sy * hh) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    corner_in = [points_in_polygon(cx, cy, shape) for cx, cy in corners]
    best, best_score = mean, -math.inf
    for k in range(len(x)):
        # a corner outside the zone counts as far against it as it sticks out
        inset = min(
            _to_outline(float(cx[k]), float(cy[k]), poly) * (1.0 if ins[k] else -1.0)
            for (cx, cy), ins in zip(corners, corner_in, strict=True)
        )
        box = (float(x[k]) - hw, float(y[k]) - hh, float(x[k]) + hw, float(y[k]) + hh)
        score = min([inset, *(_box_gap(box, o) for o in obstacles)])
        score -= 1e-3 * math.hypot(float(x[k]) - mean[0], float(y[k]) - mean[1])  # ties: the zone's middle
        if score > best_score:
            best, best_score = (float(x[k]), float(y[k])), score
    return best


def _box_gap(a: Box, b: Box) -> float:
    """How far apart two boxes are along the axis that separates them; when they overlap, minus the overlap's
    shallower side."""
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])


WEAK_RECALL = 0.6  # a zone the walk's cross-validation places right less often than this is named to staff
# Two zones whose mean distances from a store's only receiver differ by less than this share of the larger read
# alike there (install guide, section 0: zones that mirror each other around one receiver)
MIRROR_SHARE = 0.25


def _mean_distance(poly: list[tuple[float, float]], at: tuple[float, float]) -> float:
    """How far the floor of a zone is from a point, on average over the zone's area."""
    shape = np.asarray(poly, dtype=np.float64)
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    steps = (np.arange(LABEL_GRID) + 0.5) / LABEL_GRID
    gx, gy = np.meshgrid(lo[0] + steps * (hi[0] - lo[0]), lo[1] + steps * (hi[1] - lo[1]))
    inside = points_in_polygon(gx.ravel(), gy.ravel(), shape)
    x, y = gx.ravel()[inside], gy.ravel()[inside]
    if len(x) == 0:
        x, y = shape[:, 0], shape[:, 1]
    return float(np.hypot(x - at[0], y - at[1]).mean())


def _mirror(model: ZoneModel, polygons: dict[str, list[tuple[float, float]]], z: str, e: str) -> str:
    """With one receiver, what to tell staff when zone `z` was mostly taken for `e` and the two are as far from it:
    walking again will not help, only a second receiver (or, for neighbours, one zone instead of two)."""
    if len(model.receivers) != 1 or e == OUTSIDE or z not in polygons or e not in polygons:
        return ""
    at = model.receiver_positions.get(model.receivers[0])
    if at is None:
        return ""
    dz, de = _mean_distance(polygons[z], at), _mean_distance(polygons[e], at)
    if abs(dz - de) > MIRROR_SHARE * max(dz, de):
        return ""
    return (
        f"; it is about as far from the only receiver as {e} ({dz:.0f} and {de:.0f} m on average), and one receiver"
        f" tells zones apart only by how far they are: put a receiver in {z} or {e}"
    )


def weak_zone_advice(model: ZoneModel, report: dict[str, Any]) -> list[str]:
    """One line per zone the walk's cross-validation placed right less than WEAK_RECALL of the time: what it was
    taken for, and the remedy that fits (a receiver where none stands in the zone, else more spots or a merge)."""
    polygons, bare = _bare_zones(model, report)
    out = []
    for z, row in _shares(model, report).items():
        if row[z] >= WEAK_RECALL:
            continue
        confused = sorted(((v, e) for e, v in row.items() if e != z and v >= 0.1), reverse=True)
        taken = ", ".join(f"{e} {v:.0%}" for v, e in confused[:2])
        # rounded down: a zone named weak for 59.7 % read "60%", the line it is weak below
        line = f"weak zone {z}: {math.floor(row[z] * 100)}% of its walk placed right in cross-validation"
        line += f" (taken for {taken})" if taken else ""
        # the zone it could be merged with: the one it is most taken for that lies next to it on the floor plan
        # (two zones apart, or meeting at a corner, they would make a zone no shopper stays in; the street is none)
        merge = next(
            (
                f", or merge it with {e}"
                for _, e in confused
                if e != OUTSIDE and (z not in polygons or e not in polygons or adjacent(polygons[z], polygons[e]))
            ),
            "",
        )
        mirror = _mirror(model, polygons, z, confused[0][1]) if confused and z != OUTSIDE else ""
        if z == OUTSIDE:
            line += "; walk more spots by the door and on the pavement (install guide, section 9)"
        elif mirror:
            line += f"{mirror}{merge} (install guide, section 0)"
        elif z in bare:
            line += f"; no receiver stands in it: put one there{merge} (install guide, section 0)"
        else:
            line += f"; walk it again at more spots{merge}"
        out.append(line)
    return out


def write_report(
    model: ZoneModel, report: dict[str, Any], path: str | os.PathLike[str], notes: list[str] | None = None
) -> bool:
    """Draws the report; False when matplotlib is missing. `notes` gathers what staff should know of the picture."""
    with glyphs_noted(path, notes if notes is not None else []):
        return _draw(model, report, path)


def _draw(model: ZoneModel, report: dict[str, Any], path: str | os.PathLike[str]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5))
    ax_fit, ax_plan, ax_conf = axes

    points: dict[str, tuple[list[float], list[float]]] = report.get("pathloss_points", {})
    # a walk whose zones have no position (none in the header) has no distances: its fingerprint is drawn instead,
    # where an empty plot printed matplotlib's "no artists with labels" warning to the user
    if any(ds for ds, _ in points.values()):
        for rx, (ds, vs) in points.items():
            if not ds:
                continue
            sc = ax_fit.scatter(ds, vs, s=4, alpha=0.3, label=rx)
            if rx in model.pathloss:
                a, n = model.pathloss[rx]
                d = np.linspace(max(min(ds), 0.5), max(ds), 50)
                ax_fit.plot(d, a - 10 * n * np.log10(d), color=sc.get_facecolor()[0], lw=2)
        if any(d > 0 for ds, _ in points.values() for d in ds):  # one zone walked at its own centre: all 0 m
            ax_fit.set_xscale("log")
        # with zone polygons the walk is positioned inside its zones (gateway/zones/grid.py); else zone centres
        where = "the walk's fitted position" if model.zone_polygons else "zone centre"
        ax_fit.set_xlabel(f"distance from {where} (m); curves without the per-zone level")
        ax_fit.set_ylabel("filtered RSSI (dBm)")
        ax_fit.set_title("Log-distance fit per receiver")
        legend = ax_fit.legend(fontsize=7, markerscale=3)
        for handle in legend.legend_handles:  # the points' faintness is for the cloud, not the key to it
            if handle is not None:
                handle.set_alpha(1.0)
    else:
        # without positions: the fingerprint itself, mean RSSI per zone and receiver
        im = ax_fit.imshow(model.mean, aspect="auto", cmap="viridis")
        ax_fit.set_yticks(range(len(model.classes)), model.classes)
        ax_fit.set_xticks(range(len(model.receivers)), model.receivers, rotation=60, fontsize=7)
        ax_fit.set_title("Mean filtered RSSI per zone (dBm)")
        fig.colorbar(im, ax=ax_fit)

    zones = plan_zones(model, report)
    if zones:
        from matplotlib.patches import Polygon

        cmap = plt.get_cmap("RdYlGn")
        for pz in zones:
            colour = cmap(pz.recall) if pz.recall is not None else "lightgrey"
            hatch = None if pz.has_receiver else "//"
            patch = Polygon(
                pz.polygon, closed=True, facecolor=colour, edgecolor="black", lw=0.8, alpha=0.55, hatch=hatch
            )
            ax_plan.add_patch(patch)
        names = []
        all_x = [x for pz in zones for x, _ in pz.polygon]
        middle = (min(all_x) + max(all_x)) / 2
        for rx, (x, y) in model.receiver_positions.items():
            ax_plan.plot(x, y, "k^")
            # named towards the plan's middle: a receiver on its right wall had its name cut off by the frame
            right = x <= middle
            names.append(
                ax_plan.annotate(
                    rx,
                    (x, y),
                    fontsize=7,
                    xytext=(3 if right else -3, 3),
                    textcoords="offset points",
                    ha="left" if right else "right",
                )
            )
        ax_plan.autoscale_view()
        ax_plan.set_aspect("equal")
        # the labels are placed by their drawn size in metres, known once the plan's scale is
        fig.canvas.draw()
        to_m = ax_plan.transData.inverted()
        taken: list[Box] = []
        for rx_name, (x, y) in zip(names, model.receiver_positions.values(), strict=True):
            (x0, y0), (x1, y1) = to_m.transform(rx_name.get_window_extent())
            taken.append((min(x0, x), min(y0, y), max(x1, x), max(y1, y)))
        for pz in zones:
            shown = "not walked" if pz.recall is None else f"{pz.recall:.0%} right"
            # a white backing keeps the name readable on a hatched zone
            label = ax_plan.text(
                0,
                0,
                f"{pz.name}\n{shown}",
                ha="center",
                va="center",
                fontsize=7,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.6, "linewidth": 0},
            )
            (x0, y0), (x1, y1) = to_m.transform(label.get_window_extent())
            label.set_position(label_spot(pz.polygon, (abs(x1 - x0), abs(y1 - y0)), taken))
        ax_plan.set_xlabel("m")
        ax_plan.set_title("Floor plan: zones by cross-validated recall\n(^ receiver; hatched: no receiver inside)")
    elif model.receiver_positions:
        for rx, (x, y) in model.receiver_positions.items():
            ax_plan.plot(x, y, "k^")
            ax_plan.annotate(rx, (x, y), fontsize=7)
        for z, (x, y) in model.zone_positions.items():
            ax_plan.plot(x, y, "o", color="tab:blue")
            ax_plan.annotate(z, (x, y), fontsize=8, color="tab:blue")
        ax_plan.set_aspect("equal")
        ax_plan.set_title("Floor plan: receivers (^) and zone centres (o)")
    else:
        ax_plan.axis("off")
        ax_plan.text(0.5, 0.5, "receiver positions unknown", ha="center", va="center")

    conf = np.array(report.get("cv_confusion", []), dtype=np.float64)
    if conf.size:
        rows = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
        ax_conf.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        labels = report.get("classes", model.classes)
        ax_conf.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
        ax_conf.set_yticks(range(len(labels)), labels, fontsize=7)
        for i in range(rows.shape[0]):
            for j in range(rows.shape[1]):
                if rows[i, j] >= 0.01:
                    ax_conf.text(j, i, f"{rows[i, j]:.2f}", ha="center", va="center", fontsize=6)
        acc = report.get("cv_accuracy", math.nan)
        ax_conf.set_title(f"Cross-validated confusion (accuracy {acc:.2f})")
        ax_conf.set_xlabel("estimated")
        ax_conf.set_ylabel("true")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)  # as the zones file's own directory is made
    fig.savefig(os.fspath(path), dpi=90, bbox_inches="tight")  # rotated zone names are not cut off
    plt.close(fig)
    return True
