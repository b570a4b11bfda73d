"""The radio model: what each receiver reports for an advertisement sent from a point (pure, vectorised).

received power = rssi_at_1m(rx) + device offset - 10 n(rx) log10(d) - walls - body loss
                 + shadowing (log-normal, correlated in time and space) + fast fading (Rician)
A packet is caught with probability scan_duty * logistic((power - sensitivity) / loss_width); what is
reported is the power rounded to an integer and clipped to the receiver's range. docs/simulator.md lists
the parameters and why they have their defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from simulator.store import Store

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RadioParams:
    shadow_sigma_db: float = 4.0  # indoor log-normal shadowing, typical 3-6 dB at 2.4 GHz
    shadow_corr_distance_m: float = 3.0  # Gudmundson decorrelation distance for indoor links
    shadow_corr_time_s: float = 45.0  # other people and trolleys moving around change a static link too
    rician_k: float = 2.0  # fast fading: LOS power / scattered power; lower = deeper fades
    body_loss_db: float = 9.0  # a human body between phone and receiver costs 5-15 dB at 2.4 GHz
    device_offset_sigma_db: float = 3.0  # per-device antenna/tx-power spread among same-kind devices
    loss_width_db: float = 2.5  # how gradually reception fails around the sensitivity
    min_distance_m: float = 0.3  # the far-field model does not hold closer than this
    height_offset_m: float = 1.5  # receivers hang near the ceiling, phones at hip height


DEFAULT_RADIO = RadioParams()


def radio_with(
    shadowing_db: float | None = None, body_loss_db: float | None = None, device_offset_db: float | None = None
) -> RadioParams:
    """The default radio with the noise a user chose on the command line (None: the default's)."""
    chosen = {
        "shadow_sigma_db": shadowing_db,
        "body_loss_db": body_loss_db,
        "device_offset_sigma_db": device_offset_db,
    }
    return replace(DEFAULT_RADIO, **{k: v for k, v in chosen.items() if v is not None})


def radio_note(radio: RadioParams) -> str:
    """What a generated file's header says of a radio that is not the default ("" for the default): the same
    seed gives another day under another radio, so the file must say which."""
    if radio == DEFAULT_RADIO:
        return ""
    note = f" radio=shadowing:{radio.shadow_sigma_db:g}dB,body-loss:{radio.body_loss_db:g}dB"
    if radio.device_offset_sigma_db != DEFAULT_RADIO.device_offset_sigma_db:
        # said only when changed, so the files of a day made before the option read as they did
        note += f",device-offset:{radio.device_offset_sigma_db:g}dB"
    return note


class Receivers:
    """The store's receivers and walls as arrays, for broadcasting against (adverts, receivers)."""

    def __init__(self, store: Store) -> None:
        rx = store.receiver
        self.ids = [r.id for r in rx]
        self.x = np.array([r.x for r in rx])
        self.y = np.array([r.y for r in rx])
        self.rssi_1m = np.array([r.rssi_at_1m for r in rx])
        self.exponent = np.array([r.path_loss_exponent for r in rx])
        self.sensitivity = np.array([r.sensitivity_dbm for r in rx])
        self.max_rssi = np.array([float(r.max_rssi_dbm) for r in rx])
        self.duty = np.array([r.scan_duty for r in rx])
        self.walls = [(w.start, w.end, w.loss_db) for w in store.wall]
        self.width, self.height = store.width, store.height
        self.entrance = store.entrance
        self.outward = store.outward
        self.facade_loss_db = store.facade_loss_db
        self.door_half_width_m = store.door_width_m / 2

    def __len__(self) -> int:
        return len(self.ids)


def _crosses(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, c: tuple[float, float], d: tuple[float, float]
) -> BoolArray:
    """Whether segments a-b (arrays) properly intersect the fixed segment c-d (orientation test)."""

    def orient(
        px: FloatArray | float,
        py: FloatArray | float,
        qx: FloatArray | float,
        qy: FloatArray | float,
        rx: FloatArray | float,
        ry: FloatArray | float,
    ) -> FloatArray:
        return np.sign((qx - px) * (ry - py) - (qy - py) * (rx - px))

    o1 = orient(ax, ay, bx, by, c[0], c[1])
    o2 = orient(ax, ay, bx, by, d[0], d[1])
    o3 = orient(c[0], c[1], d[0], d[1], ax, ay)
    o4 = orient(c[0], c[1], d[0], d[1], bx, by)
    crossing: BoolArray = (o1 * o2 < 0) & (o3 * o4 < 0)
    return crossing


def _facade_loss(rx: Receivers, x: FloatArray, y: FloatArray) -> FloatArray:
    """Loss for devices outside the floor plan: the facade, unless the line to the receiver passes the door."""
    outside = (x < 0) | (y < 0) | (x > rx.width) | (y > rx.height)
    loss = np.zeros((len(x), len(rx)))
    if not outside.any():
        return loss
    ex, ey = rx.entrance
    horizontal = rx.outward[0] == 0.0  # the door is in a wall along x
    a, b = (y, x) if horizontal else (x, y)  # a: across the door's wall, b: along it
    ra, rb = (rx.y, rx.x) if horizontal else (rx.x, rx.y)
    door_a, door_b = (ey, ex) if horizontal else (ex, ey)
    # a line parallel to the door's wall (a == ra) never passes the door: its s is inf or nan and fails the tests
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (door_a - a[:, None]) / (ra[None, :] - a[:, None])
        crossing_b = b[:, None] + s * (rb[None, :] - b[:, None])
    through_door = (s >= 0) & (s <= 1) & (np.abs(crossing_b - door_b) <= rx.door_half_width_m)
    loss[outside] = rx.facade_loss_db
    loss[through_door & outside[:, None]] = 0.0
    return loss


def mean_rssi(
    rx: Receivers,
    x: FloatArray,
    y: FloatArray,
    heading: FloatArray,
    body_factor: FloatArray,
    device_offset_db: FloatArray,
    params: RadioParams = DEFAULT_RADIO,
) -> FloatArray:
    """Received power before shadowing and fading, shape (adverts, receivers).

    Body loss grows with the angle between where the carrier walks/faces and the receiver: a phone in a
    front pocket or hand is shadowed by its carrier for receivers behind them. `body_factor` is 1 for a
    phone, less for a watch or a tag on a bag, 0 for a fixed device.
    """
    dx = rx.x[None, :] - x[:, None]
    dy = rx.y[None, :] - y[:, None]
    dist = np.sqrt(dx * dx + dy * dy + params.height_offset_m**2)
    dist = np.maximum(dist, params.min_distance_m)
    power = rx.rssi_1m[None, :] + device_offset_db[:, None] - 10.0 * rx.exponent[None, :] * np.log10(dist)
    bearing = np.arctan2(dy, dx)
    facing_away = (1.0 - np.cos(bearing - heading[:, None])) / 2.0
    power -= params.body_loss_db * body_factor[:, None] * facing_away
    power -= _facade_loss(rx, x, y)
    for start, end, loss in rx.walls:
        # columns (A, 1) against rows (1, R): the wall-side tests broadcast instead of being computed A x R times
        power -= loss * _crosses(x[:, None], y[:, None], rx.x[None, :], rx.y[None, :], start, end)
    return power


def shadow_step(
    prev: FloatArray, moved_m: FloatArray, dt_s: float, rng: np.random.Generator, params: RadioParams = DEFAULT_RADIO
) -> FloatArray:
    """One AR(1) step of per-link shadowing (devices, receivers): correlation decays with distance moved
    (Gudmundson) and with time, so a standing shopper keeps a slowly drifting bias and a walking one decorrelates.
    """
    rho = np.exp(-moved_m / params.shadow_corr_distance_m - dt_s / params.shadow_corr_time_s)[:, None]
    innovation = rng.standard_normal(prev.shape) * params.shadow_sigma_db
    return rho * prev + np.sqrt(1.0 - rho * rho) * innovation


def fast_fading_db(shape: tuple[int, ...], rng: np.random.Generator, params: RadioParams = DEFAULT_RADIO) -> FloatArray:
    """Rician fading in dB with unit mean power: each packet (on one of 3 channels) sees its own multipath."""
    k = params.rician_k
    los = math.sqrt(k / (k + 1.0))
    scatter = math.sqrt(1.0 / (2.0 * (k + 1.0)))
    re = los + scatter * rng.standard_normal(shape)
    im = scatter * rng.standard_normal(shape)
    power: FloatArray = 10.0 * np.log10(np.maximum(re * re + im * im, 1e-6))
    return power


def receive(
    rx: Receivers, power_db: FloatArray, rng: np.random.Generator, params: RadioParams = DEFAULT_RADIO
) -> tuple[BoolArray, IntArray]:
    """Which (advert, receiver) pairs are reported, and the integer RSSI each receiver reports.

    Loss rises smoothly as the instantaneous power nears the sensitivity, on top of the receiver's scan
    duty cycle; nothing below the sensitivity is reported, nothing above the front end's maximum.
    """
    margin = (power_db - rx.sensitivity[None, :]) / params.loss_width_db
    p_catch = rx.duty[None, :] / (1.0 + np.exp(-np.clip(margin, -50, 50)))
    caught = (rng.random(power_db.shape) < p_catch) & (power_db >= rx.sensitivity[None, :])
    reported = np.clip(np.rint(power_db), np.ceil(rx.sensitivity)[None, :], rx.max_rssi[None, :])
    return caught, reported.astype(np.int64)
