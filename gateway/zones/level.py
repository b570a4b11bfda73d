"""How loud customers' devices read against the calibration walk's device: a health check of the walk.

Each tracked device learns its constant offset relative to the walk's fingerprints (tracker.py, "Each phone's
offset"). One phone's offset is its own business; the median over many says whether the walk was done with a
device much quieter or louder than the customers carry. That matters beyond the offset the model integrates
out: the walk also teaches which receivers hear a device at all in each zone, and a quiet walk device is
missed by far receivers that customers' phones reach, so their zones look unlike any walked one. On thirty
simulated days (five stores, six seeds) the median sat within 3.0 dB of the walk's device on 28; the two
beyond were each store's worst day (pharmacy +3.5 dB: 0.529 against 0.69-0.76 on the others; kiosk -3.7 dB:
0.573 against 0.63-0.67). Walked again with a device 8 dB louder, that pharmacy day scored 0.696
(docs/zones.md, round 14).

The check warns when the median lies further from the walk's device than the model's own offset prior
spreads phones (`offset_sigma_db`): the model was told phones differ by about that much, and the customers as
a whole differ by more. It needs devices heard by two receivers or more (one receiver cannot tell a quiet
phone from a far one, and learns no offset). Only the offsets are kept, never who they belong to. After a
restart the survey starts from the offsets history.db keeps for the recall (one per customer, the KEEP_DEVICES
most recently heard), so the check does not wait for ten departures after every restart.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

MIN_DEVICES = 10  # fewer visits say more about those people than about the walk
KEEP_DEVICES = 500  # the most recent visits: a day of a busy store, and a walk redone later shows within it
LEARNT_VAR_SHARE = 0.5  # a belief counts once its variance is at most this share of the prior's


@dataclass(frozen=True)
class LevelSummary:
    median_db: float  # > 0: customers' devices read louder than the walk's device
    devices: int


class LevelSurvey:
    """The learnt offsets of devices that have left, most recent last."""

    def __init__(self, prior_sigma_db: float) -> None:
        self.prior_sigma_db = prior_sigma_db
        self._learnt_var = LEARNT_VAR_SHARE * prior_sigma_db * prior_sigma_db
        self._offsets: deque[float] = deque(maxlen=KEEP_DEVICES)

    def add(self, mean_db: float, var_db2: float) -> None:
        """A departing device's belief N(mean, var); kept only if it learnt something beyond the prior."""
        if self.prior_sigma_db > 0 and var_db2 <= self._learnt_var:
            self._offsets.append(mean_db)

    def summary(self) -> LevelSummary | None:
        if len(self._offsets) < MIN_DEVICES:
            return None
        return LevelSummary(round(statistics.median(self._offsets), 1), len(self._offsets))

    def warning(self) -> str | None:
        """One line for the store's IT team when the walk's device does not sound like the customers'."""
        return self._warning(self.summary())

    def _warning(self, s: LevelSummary | None) -> str | None:
        if s is None or abs(s.median_db) <= self.prior_sigma_db:
            return None
        how = "louder" if s.median_db > 0 else "quieter"
        return (
            f"customers' devices read {abs(s.median_db):.1f} dB {how} than the calibration walk's device (median of "
            f"{s.devices} visits; the model expects phones within {self.prior_sigma_db:.1f} dB of it): zones may be "
            "placed less reliably; walk the zones again with a device as loud as a typical customer's phone and "
            "refit (docs/install-raspberry-pi.md, section 9)"
        )

    def report(self) -> dict[str, Any] | None:
        """The summary and its warning for the health file and evaluations (None until enough visits)."""
        s = self.summary()
        if s is None:
            return None
        return {"median_db": s.median_db, "devices": s.devices, "warning": self._warning(s)}
