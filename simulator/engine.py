"""Turns devices moving through a store into the advertisements each receiver reports, one time slice at a
time, so that a whole day streams through bounded memory (pure: randomness from the Generator given).

Per slice: positions and facings on a 1 s grid, per-link shadowing stepped on that grid (AR(1) in time and
distance moved), advertisement times per device (interval + 0-10 ms advDelay), then the radio model for
every (advertisement, receiver) pair at once. Output: ready-made JSON lines in time order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from simulator.devices import ADV_DELAY_MAX_S, Device
from simulator.radio import DEFAULT_RADIO, RadioParams, Receivers, fast_fading_db, mean_rssi, receive, shadow_step
from simulator.store import Store

SLICE_S = 60.0  # divides the 300 s token window; long enough to amortise numpy calls, short enough for memory
GRID_S = 1.0  # positions and shadowing resolution: 1.4 m at walking speed, under the shadowing's 3 m
RSSI_TABLE_MIN, RSSI_TABLE_MAX = -127, 20  # what a recording may hold (gateway.sources.recording)

# (advert times, advert device indices, report -> advert, report -> receiver, report RSSI)
Reports = tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]


class RadioSimulation:
    def __init__(
        self, store: Store, devices: Sequence[Device], rng: np.random.Generator, params: RadioParams = DEFAULT_RADIO
    ) -> None:
        self.rx = Receivers(store)
        self.devices = devices
        self.rng = rng
        self.params = params
        n, r = len(devices), len(self.rx)
        self.t_on = np.array([d.t_on for d in devices])
        self.t_off = np.array([d.t_off for d in devices])
        self.interval = np.array([d.interval_s for d in devices])
        self.offset = np.array([d.offset_db for d in devices])
        self.body = np.array([d.body_factor for d in devices])
        self.next_t = self.t_on + rng.random(n) * self.interval
        self.shadow = np.zeros((n, r))
        self.started = np.zeros(n, dtype=bool)
        self.last_x = np.zeros(n)
        self.last_y = np.zeros(n)
        self.adverts_sent = 0
        self.reports = np.zeros(r, dtype=np.int64)

    def slice_lines(self, t0: float, t1: float) -> list[str]:
        """The recording lines (with newline) of every advertisement reported in [t0, t1), sorted by t."""
        reports = self.slice_reports(t0, t1)
        if reports is None:
            return []
        return self._render(*reports)

    def slice_reports(self, t0: float, t1: float) -> Reports | None:
        """What the receivers reported in [t0, t1) as arrays, before they are written as lines: per
        advertisement its time and device index, per report the advertisement, receiver index and RSSI."""
        act = np.nonzero((self.t_on < t1) & (self.t_off > t0))[0]
        if len(act) == 0:
            return None
        rng, params = self.rng, self.params
        n_grid = max(1, math.ceil((t1 - t0) / GRID_S))
        tg = t0 + np.arange(n_grid + 1, dtype=np.float64) * GRID_S
        gx = np.empty((len(act), n_grid + 1))
        gy = np.empty_like(gx)
        gh = np.empty_like(gx)
        for i, d in enumerate(act):
            gx[i], gy[i], gh[i] = self.devices[int(d)].track.at(tg)

        # shadowing on the grid, carried across slices per link
        state = self.shadow[act]
        new = ~self.started[act]
        state[new] = rng.standard_normal((int(new.sum()), len(self.rx))) * params.shadow_sigma_db
        lx, ly = np.where(new, gx[:, 0], self.last_x[act]), np.where(new, gy[:, 0], self.last_y[act])
        grid_shadow = np.empty((len(act), len(self.rx), n_grid))
        for k in range(n_grid):
            moved = np.hypot(gx[:, k] - lx, gy[:, k] - ly)
            state = shadow_step(state, moved, GRID_S, rng, params)
            grid_shadow[:, :, k] = state
            lx, ly = gx[:, k], gy[:, k]
        self.shadow[act] = state
        self.started[act] = True
        self.last_x[act], self.last_y[act] = lx, ly

        # advertisement times, ragged: each device gets just enough slots to pass t1 (one 100 ms phone
        # next to many 30 s tags must not cost a dense devices x 600 matrix)
        nxt, iv = self.next_t[act], self.interval[act]
        n_per = np.maximum(np.ceil((t1 - nxt) / iv).astype(np.int64), 1) + 1  # the last slot is >= t1
        starts = np.cumsum(n_per) - n_per
        row = np.repeat(np.arange(len(act)), n_per)
        k = np.arange(int(n_per.sum())) - starts[row]
        jitter = rng.uniform(0.0, ADV_DELAY_MAX_S, len(row))
        jitter[starts] = 0.0
        acc = np.cumsum(jitter)
        times = nxt[row] + k * iv[row] + (acc - acc[starts][row])
        after = times >= t1
        self.next_t[act] = times[starts + np.add.reduceat((~after).astype(np.int64), starts)]
        times = np.round(times, 3)
        dev_row = act[row]
        valid = ~after & (times >= self.t_on[dev_row]) & (times < self.t_off[dev_row]) & (times < t1)
        di = row[valid]
        if len(di) == 0:
            return None
        t = times[valid]
        self.adverts_sent += len(t)

        # where each advertisement was sent from, and what the receivers made of it
        pos = (t - t0) / GRID_S
        gi = np.minimum(pos.astype(np.int64), n_grid - 1)
        frac = pos - gi
        x = gx[di, gi] * (1 - frac) + gx[di, gi + 1] * frac
        y = gy[di, gi] * (1 - frac) + gy[di, gi + 1] * frac
        dev = act[di]
        power = mean_rssi(self.rx, x, y, gh[di, gi], self.body[dev], self.offset[dev], params)
        power += grid_shadow[di, :, gi]
        power += fast_fading_db(power.shape, rng, params)
        caught, reported = receive(self.rx, power, rng, params)
        ai, ri = np.nonzero(caught)
        if len(ai) == 0:
            return None
        self.reports += np.bincount(ri, minlength=len(self.rx))
        return t, dev, ai, ri, reported[ai, ri]

    def _render(
        self,
        t: npt.NDArray[np.float64],
        dev: npt.NDArray[np.int64],
        ai: npt.NDArray[np.int64],
        ri: npt.NDArray[np.int64],
        rssi: npt.NDArray[np.int64],
    ) -> list[str]:
        # frame of each advertisement: adverts are grouped by device (nonzero is row-major)
        codes = np.empty(len(t), dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, dev[1:] != dev[:-1]])
        ends = np.r_[starts[1:], len(dev)]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            codes[s:e] = self.devices[int(dev[s])].frames.codes(t[s:e])
        frame_key = dev * 1_000_000 + codes
        keys, first, frame_of_advert = np.unique(frame_key, return_index=True, return_inverse=True)
        addrs: list[str] = []
        rests: list[str] = []
        for key_i, a in zip(keys.tolist(), first.tolist(), strict=True):
            addr, rest = self.devices[key_i // 1_000_000].frames.render(key_i % 1_000_000, float(t[a]))
            addrs.append(addr)
            rests.append(rest)
        order = np.lexsort((dev[ai], ri, t[ai]))
        ai, ri, rssi = ai[order], ri[order], rssi[order]
        # Most advertisements reach several receivers: format each time once, and each (frame, receiver)
        # prefix once, so the per-line work is four lookups and one concatenation.
        n_rx = len(self.rx)
        t_part = [f'{{"t":{tt:.3f},"rx":"' for tt in t.tolist()]
        mid = [f'{name}","addr":"{addr}","rssi":' for addr in addrs for name in self.rx.ids]
        rssi_text = [str(v) for v in range(RSSI_TABLE_MIN, RSSI_TABLE_MAX + 1)]
        frame = frame_of_advert.ravel()[ai]
        rests = [rest + "\n" for rest in rests]
        return [
            f"{t_part[a]}{mid[k]}{rssi_text[q]}{rests[f]}"
            for a, k, q, f in zip(
                ai.tolist(), (frame * n_rx + ri).tolist(), (rssi - RSSI_TABLE_MIN).tolist(), frame.tolist(), strict=True
            )
        ]
