"""The store description: floor plan, zones, entrance, receivers and their radios (TOML, validated).

Geometry is in metres on the store's own grid: x to the right, y up, (0, 0) a corner of the floor plan.
Everything here is pure apart from `load_store`, which reads one file and names file and field on error.
"""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.config import format_validation_error, no_text_or_bool_for_number

BUILTIN_STORE = "example"
Point = tuple[float, float]
Segment = tuple[Point, Point]
FloatArray = npt.NDArray[np.float64]


ZONE_NAME_MAX = 64  # a zone's name is shown in tables and plots
FLOOR_CHECK_STEP_M = 0.25  # the grid on which every zone must own some floor


class StoreError(Exception):
    """A store file cannot be used; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    _no_text = field_validator("*", mode="before")(no_text_or_bool_for_number)  # width = "25" was taken as 25


class Zone(_Strict):
    # what staff call the zone: any printable text ("Baby care", "Beauté"); zone names travel in JSON and TOML
    # strings only, never in MQTT topics (campaign ids derived from them are made topic-safe: campaign_id_for)
    name: str
    polygon: list[Point] = Field(min_length=3)

    @field_validator("name")
    @classmethod
    def _readable(cls, v: str) -> str:
        if not v.strip() or len(v) > ZONE_NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError(f"must be printable text of 1 to {ZONE_NAME_MAX} characters, not only spaces")
        if v != v.strip():  # the fit refuses it (no campaign's zone would match): say so before a day is simulated
            raise ValueError(f"{v!r} starts or ends with a space: no campaign's zone would match it")
        return v

    @cached_property
    def vertices(self) -> FloatArray:
        return np.asarray(self.polygon, dtype=np.float64)

    @property
    def area_m2(self) -> float:
        x, y = self.vertices[:, 0], self.vertices[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)

    def contains(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
        """Even-odd ray casting, vectorised over points."""
        v = self.vertices
        inside = np.zeros(np.shape(x), dtype=bool)
        for (x1, y1), (x2, y2) in zip(v, np.roll(v, -1, axis=0), strict=True):
            crosses = (y1 > y) != (y2 > y)
            with np.errstate(divide="ignore", invalid="ignore"):
                x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            inside ^= crosses & (x < x_cross)
        return inside


class Receiver(_Strict):
    """A scanning node and its radio: what it reports for a device at distance d (before noise).

    rssi(d) = rssi_at_1m - 10 * path_loss_exponent * log10(d): the log-distance model. Below
    `sensitivity_dbm` packets are lost (gradually, see radio.py); `max_rssi_dbm` is where its front end saturates.
    """

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    x: float
    y: float
    rssi_at_1m: float = Field(default=-59.0, ge=-100, le=0)
    path_loss_exponent: float = Field(default=2.2, ge=1.0, le=6.0)
    sensitivity_dbm: float = Field(default=-95.0, ge=-127, le=-30)
    max_rssi_dbm: int = Field(default=-20, ge=-60, le=20)
    scan_duty: float = Field(default=0.8, gt=0, le=1)  # share of advertisements its scan window catches


class Wall(_Strict):
    start: Point
    end: Point
    loss_db: float = Field(default=6.0, ge=0, le=40)


class Store(_Strict):
    store_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = ""
    width: float = Field(gt=0, le=1000)
    height: float = Field(gt=0, le=1000)
    entrance: Point
    entrance_zone: str | None = None  # default: the zone holding the entrance point
    checkout_zone: str | None = None  # default: a zone called "checkout", else shoppers leave without one
    zone: list[Zone] = Field(min_length=1)
    receiver: list[Receiver] = Field(min_length=1)
    wall: list[Wall] = []
    facade_loss_db: float = Field(default=6.0, ge=0, le=40)  # outer walls and shop windows; the open door has none
    door_width_m: float = Field(default=2.0, gt=0, le=20)

    @model_validator(mode="after")
    def _check(self) -> Store:
        names = [z.name for z in self.zone]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique")
        # the truth and zones.toml take names as written, and the fit refuses two that differ only in case or
        # spaces: say so here, before a whole day is simulated for nothing
        seen: dict[str, str] = {}
        for name in names:
            key = name.strip().casefold()
            if key in ("outside", "unknown"):
                raise ValueError(f"zone {name!r}: 'outside' and 'unknown' are reserved zone names, in any case")
            if key in seen:
                raise ValueError(f"zones {seen[key]!r} and {name!r} differ only in case or spaces: name them apart")
            seen[key] = name
        ids = [r.id for r in self.receiver]
        if len(set(ids)) != len(ids):
            raise ValueError("receiver ids must be unique")
        for z in self.zone:
            if (crossing := _self_crossing(z.polygon)) is not None:
                i, j = crossing
                raise ValueError(
                    f"zone {z.name!r}: its polygon crosses itself (side {i + 1} crosses side {j + 1}): list the "
                    "vertices in order around the zone"
                )
            for px, py in z.polygon:
                if not (0 <= px <= self.width and 0 <= py <= self.height):
                    raise ValueError(f"zone {z.name!r}: vertex ({px}, {py}) is outside the floor plan")
        for r in self.receiver:
            if not (-5 <= r.x <= self.width + 5 and -5 <= r.y <= self.height + 5):
                raise ValueError(f"receiver {r.id!r} is far outside the floor plan")
        ex, ey = self.entrance
        on_edge = min(abs(ex), abs(ey), abs(ex - self.width), abs(ey - self.height)) < 0.5
        if not on_edge:
            raise ValueError("entrance must lie on the edge of the floor plan")
        for key in ("entrance_zone", "checkout_zone"):
            value = getattr(self, key)
            if value is not None and value not in names:
                raise ValueError(f"{key} {value!r} is not a zone")
        # a zone nobody can stand in gets no truth, no calibration walk and no fingerprint
        step = FLOOR_CHECK_STEP_M
        gx, gy = np.meshgrid(np.arange(step / 2, self.width, step), np.arange(step / 2, self.height, step))
        owned = set(np.unique(self.zone_of(gx.ravel(), gy.ravel())).tolist())
        for i, z in enumerate(self.zone):
            if i not in owned:
                raise ValueError(
                    f"zone {z.name!r} has no floor of its own: its polygon has no area, or it lies under zones "
                    "listed before it (where polygons overlap, the first zone listed wins)"
                )
        return self

    @property
    def zone_names(self) -> list[str]:
        return [z.name for z in self.zone]

    def zone_named(self, name: str) -> Zone:
        return next(z for z in self.zone if z.name == name)

    @property
    def door_zone(self) -> str:
        if self.entrance_zone is not None:
            return self.entrance_zone
        ex, ey = self.inward_point(1.0)
        for z in self.zone:
            if z.contains(np.array([ex]), np.array([ey]))[0]:
                return z.name
        return self.zone[0].name

    @property
    def till_zone(self) -> str | None:
        if self.checkout_zone is not None:
            return self.checkout_zone
        return "checkout" if "checkout" in self.zone_names else None

    @property
    def outward(self) -> Point:
        """Unit vector from the entrance away from the store (normal of the nearest edge)."""
        ex, ey = self.entrance
        dists = {(-1.0, 0.0): ex, (0.0, -1.0): ey, (1.0, 0.0): self.width - ex, (0.0, 1.0): self.height - ey}
        return min(dists, key=lambda k: dists[k])

    def inward_point(self, depth_m: float) -> Point:
        ox, oy = self.outward
        return self.entrance[0] - ox * depth_m, self.entrance[1] - oy * depth_m

    def zone_of(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.int64]:
        """Index into `zone` per point; -1 outside the floor plan (the truth's "outside"), -2 inside but in no zone."""
        out = np.full(np.shape(x), -2, dtype=np.int64)
        for i in range(len(self.zone) - 1, -1, -1):  # the first zone listed wins where polygons overlap
            out[self.zone[i].contains(x, y)] = i
        beyond = (x < 0) | (y < 0) | (x > self.width) | (y > self.height)
        out[beyond] = -1
        return out

    def receivers_json(self) -> dict[str, dict[str, float]]:
        return {r.id: {"x": r.x, "y": r.y} for r in self.receiver}


def load_store(path: Path | str | None = None) -> Store:
    """A store from a TOML file, or the built-in example store when `path` is None."""
    if path is None:
        ref = resources.files("simulator").joinpath("stores", f"{BUILTIN_STORE}.toml")
        label = f"<built-in {BUILTIN_STORE}.toml>"
        text = ref.read_text(encoding="utf-8")
    else:
        p = Path(path)
        label = str(p)
        try:
            text = p.read_text(encoding="utf-8-sig")  # a byte-order mark opens the file
        except FileNotFoundError:
            raise StoreError(f"{p}: no such store file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise StoreError(f"{p}: cannot read: {e}") from None
    try:
        data = tomllib.loads(unicodedata.normalize("NFC", text))  # one spelling of "Café", as the truth reader's
    except tomllib.TOMLDecodeError as e:
        raise StoreError(f"{label}: invalid TOML: {e}") from None
    try:
        return Store.model_validate(data)
    except ValidationError as e:
        raise StoreError("\n".join(format_validation_error(label, e, Store))) from None  # a line per problem


def _side(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def crosses(p: Point, q: Point, wall: Segment) -> bool:
    """Whether the segment p-q properly crosses `wall` (touching an end is no crossing)."""
    c, d = wall
    return _side(p, q, c) * _side(p, q, d) < 0 and _side(c, d, p) * _side(c, d, q) < 0


def _self_crossing(polygon: list[Point]) -> tuple[int, int] | None:
    """The first two non-adjacent sides of `polygon` that cross (a bow tie), as 0-based side indexes, or None."""
    n = len(polygon)
    sides = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if not (i == 0 and j == n - 1) and crosses(*sides[i], sides[j]):  # first and last share a vertex
                return i, j
    return None
