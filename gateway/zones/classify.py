"""Zone scorers: from one vector of filtered RSSI (with a heard/not-heard mask) to a log-score per class.

`offset_nb` is the product's method: a Gaussian naive Bayes per class over the filtered RSSI of each receiver,
with the phone's unknown constant offset integrated out analytically (a Gaussian prior of `offset_sigma_db`),
and a Bernoulli term for whether each receiver hears the device at all. Integrating the offset makes the score
depend on the *shape* of the RSSI vector across receivers, not on how loud this particular phone is, while
the prior still lets one receiver alone say near/far. With `centroid_blend` > 0 its score is pooled with a second
reading of the same vector (`CentroidTerm`). The others are baselines kept for comparison.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

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


class CentroidTerm:
    """The nearest centroid's reading of a step, as a log-likelihood with the offset integrated out.

    The naive Bayes reads a silent receiver as a Bernoulli event learnt on the walk, independent of everything
    else. Misses come in runs, and where every receiver usually hears the device (small shops) a silence says more
    than that (docs/zones.md, rounds 7-8). The nearest centroid reads it as a reading at `absent_rssi`, against
    means that already contain how often the receiver was silent there (`p_heard x mean + (1 - p_heard) x floor`).
    This term is that representation as a Gaussian with one spread for every receiver (the mean of the model's
    variances) and the phone's offset integrated under the same prior as the naive Bayes, so it too reads the
    vector's shape. Constants shared by every class are left out: the tracker only compares classes.

    Per step it costs one pass over the *heard* receivers per class: the all-silent sums are precomputed, and a
    heard receiver replaces its floor residual by its reading's.
    """

    def __init__(self, model: ZoneModel) -> None:
        p = model.params
        self.floor = p.absent_rssi
        centroid = model.p_heard * model.mean + (1 - model.p_heard) * self.floor
        self.w = 1.0 / float(np.mean(np.square(model.std)))
        n = len(model.receivers)
        var_b = p.offset_sigma_db**2
        # the offset's share of the quadratic: w^2 / (n w + 1/var_b); 0 without an offset prior
        self.k = self.w * self.w / (n * self.w + 1.0 / var_b) if var_b > 0 else 0.0
        r0 = self.floor - centroid  # each receiver's residual when it is silent
        self.centroid = centroid
        self._s1 = r0.sum(axis=1).tolist()
        self._s2 = np.square(r0).sum(axis=1).tolist()
        self._rows = [list(zip(c, r, strict=True)) for c, r in zip(centroid.tolist(), r0.tolist(), strict=True)]

    def scores(self, x: FloatArray, heard: FloatArray) -> FloatArray:
        r = np.where(heard > 0, x, self.floor) - self.centroid
        s1 = r.sum(axis=1)
        s2 = np.square(r).sum(axis=1)
        out: FloatArray = -0.5 * (self.w * s2 - self.k * s1 * s1)
        return out

    def scores_heard(self, heard: Heard) -> list[float]:
        w, k, floor = self.w, self.k, self.floor
        shift = sum(x - floor for _, x in heard)  # the same for every class: a silent residual + (x - floor)
        out: list[float] = []
        for row, silent_s1, silent_s2 in zip(self._rows, self._s1, self._s2, strict=True):
            s2 = silent_s2
            for i, x in heard:
                c, r0 = row[i]
                r = x - c
                s2 += r * r - r0 * r0
            s1 = silent_s1 + shift
            out.append(-0.5 * (w * s2 - k * s1 * s1))
        return out


class OffsetNaiveBayes(Scorer):
    def __init__(
        self, model: ZoneModel, offset_sigma_db: float | None = None, centroid: CentroidTerm | None = None
    ) -> None:
        """`centroid`: the term pooled in with weight `centroid_blend`; built from `model` when not given (the
        tracker's rate-adapted scorers pass the walk's own, so only the naive Bayes' heard term follows the rate)."""
        super().__init__(model)
        sb = model.params.offset_sigma_db if offset_sigma_db is None else offset_sigma_db
        self.var_b = sb * sb
        self.blend = model.params.centroid_blend
        self.centroid = (centroid or CentroidTerm(model)) if self.blend > 0 else None
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
        if self.centroid is not None:
            result = (1 - self.blend) * result + self.blend * self.centroid.scores(x, heard)
        return result

    def _pooled(self, scores: list[float], heard: Heard) -> list[float]:
        """The naive Bayes' log-scores pooled with the centroid term's (log-linear, weight `centroid_blend`)."""
        if self.centroid is None:
            return scores
        a = self.blend
        return [(1 - a) * s + a * c for s, c in zip(scores, self.centroid.scores_heard(heard), strict=True)]

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
        return self._pooled(out, heard)

    def scores_offset(self, heard: Heard, mu: float, var: float) -> tuple[list[float], list[float], list[float]]:
        """`scores_heard` for a device whose offset is believed to be N(mu, var) rather than the prior N(0, var_b),
        and per class sum w and sum w r over the residuals net of mu: what the tracker updates that belief from.
        (`var` > 0: the tracker floors it.) The centroid term keeps the prior: its one spread is too coarse to
        read a belief through, and the belief is learnt from the naive Bayes' residuals alone."""
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
        return self._pooled(out, heard), sws, swrs


class NaiveBayes(OffsetNaiveBayes):
    """The same model believing every phone is exactly as loud as the calibration phone."""

    def __init__(self, model: ZoneModel) -> None:
        super().__init__(replace(model, params=replace(model.params, centroid_blend=0.0)), offset_sigma_db=0.0)


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


def make_scorer(model: ZoneModel, method: str | None = None, centroid: CentroidTerm | None = None) -> Scorer:
    m = method or model.params.method
    if m == "offset_nb":
        return OffsetNaiveBayes(model, centroid=centroid)
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
