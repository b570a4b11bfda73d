"""Zone scorers: from one vector of filtered RSSI (with a heard/not-heard mask) to a log-score per class.

`offset_nb` is the product's method: a Gaussian naive Bayes per class over the filtered RSSI of each receiver,
with the phone's unknown constant offset integrated out analytically (a Gaussian prior of `offset_sigma_db`),
and a Bernoulli term for whether each receiver hears the device at all. Integrating the offset makes the score
depend on the *shape* of the RSSI vector across receivers, not on how loud this particular phone is, while
the prior still lets one receiver alone say near/far. The others are baselines kept for comparison.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gateway.zones.model import ZoneModel

FloatArray = npt.NDArray[np.float64]
Heard = Sequence[tuple[int, float]]  # (receiver index, filtered RSSI) of each receiver that heard the device
P_HEARD_CLIP = 0.02  # never let one missing/extra receiver veto a class outright
NO_MATCH_SCORE = -8.0  # the strongest-receiver baseline's score for the classes it does not point at


class Scorer(ABC):
    """Log-scores per class (higher = more likely). Subclasses precompute what they can from the model."""

    def __init__(self, model: ZoneModel) -> None:
        self.model = model
        self.n_classes = len(model.classes)

    @abstractmethod
    def scores(self, x: FloatArray, heard: FloatArray) -> FloatArray:
        """Scores of every class for the filtered RSSI `x` and the mask of receivers that heard the device."""

    def scores_heard(self, heard: Heard) -> list[float]:
        """`scores` in the tracker's per-step form. Scorers with a plain-float version override this."""
        n_rx = len(self.model.receivers)
        x = np.zeros(n_rx)
        mask = np.zeros(n_rx)
        for i, v in heard:
            x[i] = v
            mask[i] = 1.0
        out: list[float] = self.scores(x, mask).tolist()
        return out


class OffsetNaiveBayes(Scorer):
    def __init__(self, model: ZoneModel, offset_sigma_db: float | None = None) -> None:
        super().__init__(model)
        sb = model.params.offset_sigma_db if offset_sigma_db is None else offset_sigma_db
        self.var_b = sb * sb
        w = 1.0 / np.square(model.std)
        self.w = w
        self.w_mu = w * model.mean
        self.w_mu2 = self.w_mu * model.mean
        p = np.clip(model.p_heard, P_HEARD_CLIP, 1 - P_HEARD_CLIP)
        self.log_p = np.log(p)
        self.log_q = np.log1p(-p)
        # the heard-term and the normalising constants are linear in the mask: fold them into one matrix
        self.lin = self.log_p - self.log_q - 0.5 * np.log(2 * math.pi * np.square(model.std))
        self.const = self.log_q.sum(axis=1)
        # Per class, per receiver (mean, weight, linear term) as Python floats, for scores_heard
        self._rows = [
            list(zip(mu, wc, lc, strict=True))
            for mu, wc, lc in zip(model.mean.tolist(), w.tolist(), self.lin.tolist(), strict=True)
        ]
        self._const = self.const.tolist()

    def scores(self, x: FloatArray, heard: FloatArray) -> FloatArray:
        xh = x * heard
        sw = self.w @ heard
        swr = self.w @ xh - self.w_mu @ heard
        swr2 = self.w @ (xh * x) - 2.0 * (self.w_mu @ xh) + self.w_mu2 @ heard
        if self.var_b > 0:
            quad = swr2 - swr * swr / (sw + 1.0 / self.var_b)
            out = -0.5 * quad - 0.5 * np.log1p(self.var_b * sw)
        else:
            out = -0.5 * swr2
        result: FloatArray = out + self.lin @ heard + self.const
        return result

    def scores_heard(self, heard: Heard) -> list[float]:
        """The same formula in plain floats, in residual form. The tracker scores 3-8 receivers against 3-8
        classes twice a second per device: numpy's per-call overhead (15 calls, ~20 us) outweighed the
        arithmetic, which takes ~5-10 us in floats. The residual form also avoids the cancellation of the
        expanded x^2 - 2 x mu + mu^2 (scores agree with `scores` to ~1e-12)."""
        if self.var_b > 0:
            return self.scores_offset(heard, 0.0, self.var_b)[0]  # the prior is a belief centred on 0
        out: list[float] = []
        for row, const in zip(self._rows, self._const, strict=True):
            swr2 = 0.0
            lin = const
            for i, x in heard:
                mu, w, lin_i = row[i]
                r = x - mu
                swr2 += w * r * r
                lin += lin_i
            out.append(lin - 0.5 * swr2)
        return out

    def scores_offset(self, heard: Heard, mu: float, var: float) -> tuple[list[float], list[float], list[float]]:
        """`scores_heard` for a device whose offset is believed to be N(mu, var) rather than the prior N(0, var_b),
        and per class sum w and sum w r over the residuals net of mu: what the tracker updates that belief from.
        (`var` > 0: the tracker floors it.)"""
        inv_var = 1.0 / var
        log1p = math.log1p
        out: list[float] = []
        sws: list[float] = []
        swrs: list[float] = []
        for row, const in zip(self._rows, self._const, strict=True):
            sw = swr = swr2 = 0.0
            lin = const
            for i, x in heard:
                m, w, lin_i = row[i]
                r = x - m - mu
                wr = w * r
                sw += w
                swr += wr
                swr2 += wr * r
                lin += lin_i
            out.append(lin - 0.5 * (swr2 - swr * swr / (sw + inv_var)) - 0.5 * log1p(var * sw))
            sws.append(sw)
            swrs.append(swr)
        return out, sws, swrs


class NaiveBayes(OffsetNaiveBayes):
    """The same model believing every phone is exactly as loud as the calibration phone."""

    def __init__(self, model: ZoneModel) -> None:
        super().__init__(model, offset_sigma_db=0.0)


class NearestCentroid(Scorer):
    """Euclidean distance to each class's mean vector, unheard receivers set to a floor value."""

    def __init__(self, model: ZoneModel) -> None:
        super().__init__(model)
        floor = model.params.absent_rssi
        self.centroid = model.p_heard * model.mean + (1 - model.p_heard) * floor
        self.floor = floor
        self.scale = 0.5 / float(np.mean(np.square(model.std)))

    def scores(self, x: FloatArray, heard: FloatArray) -> FloatArray:
        v = np.where(heard > 0, x, self.floor)
        d2 = np.square(self.centroid - v).sum(axis=1)
        result: FloatArray = -self.scale * d2
        return result


class StrongestReceiver(Scorer):
    """The class where the strongest receiver is loudest, as most peers do it."""

    def __init__(self, model: ZoneModel) -> None:
        super().__init__(model)
        floor = model.params.absent_rssi
        expected = model.p_heard * model.mean + (1 - model.p_heard) * floor
        self.class_of_rx = np.argmax(expected, axis=0)

    def scores(self, x: FloatArray, heard: FloatArray) -> FloatArray:
        out = np.full(self.n_classes, NO_MATCH_SCORE)
        if heard.any():
            best = int(np.argmax(np.where(heard > 0, x, -np.inf)))
            out[self.class_of_rx[best]] = 0.0
        return out


def make_scorer(model: ZoneModel, method: str | None = None) -> Scorer:
    m = method or model.params.method
    if m == "offset_nb":
        return OffsetNaiveBayes(model)
    if m == "nb":
        return NaiveBayes(model)
    if m == "centroid":
        return NearestCentroid(model)
    if m == "strongest":
        return StrongestReceiver(model)
    if m == "logdist":
        from gateway.zones.pathloss import LogDistanceScorer

        return LogDistanceScorer(model)
    raise ValueError(f"unknown method {m!r}")
