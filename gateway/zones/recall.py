"""What a returning customer's phone was learnt to read like on their last visit.

A phone's offset against the walk's device (tracker.py, "Each phone's offset") is learnt anew on every visit,
and until it is, the visit's first steps are placed as if the phone read like the walk's device. A regular
carries the same phone, so their next visit can start from what the last one learnt. On simulated days
(docs/zones.md, round 20) a second visit that started from the first one's belief placed customers 0.1-1.3
points better per layout, on 38 of 42 days.

Kept in memory only, per customer id, bounded, most recently departed last; a revocation removes the customer's
entry with the rest of their state. It goes when the daemon restarts, which is also what puts a refitted
zones.toml to work, so nothing learnt against an earlier walk's device is applied to a later walk's model.
"""

from __future__ import annotations

from collections import OrderedDict

KEEP_CUSTOMERS = 10_000  # regulars of a large store; 1.7 MB when full (tracemalloc, ids shared with the registry)
# Between visits the phone may sit in a new case or another pocket: the recalled belief is this much less sure
# than the one the visit left with. The simulator's phones never change, so it cannot say how much real ones
# do; there 2 dB^2 gave back two fifths of what recall wins, and 0.5 a tenth (docs/zones.md, round 20).
DRIFT_DB2 = 0.5


class OffsetRecall:
    def __init__(self, prior_var_db2: float, keep: int = KEEP_CUSTOMERS) -> None:
        self._prior_var = prior_var_db2
        self._keep = keep
        self._beliefs: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._beliefs)

    def remember(self, customer: str, mean_db: float, var_db2: float) -> None:
        """A departing visit's belief N(mean, var); one that learnt nothing beyond the prior is not kept (and
        drops what an earlier visit left, which this visit could not confirm)."""
        self._beliefs.pop(customer, None)
        if var_db2 + DRIFT_DB2 >= self._prior_var:
            return
        self._beliefs[customer] = (mean_db, var_db2 + DRIFT_DB2)
        if len(self._beliefs) > self._keep:
            self._beliefs.popitem(last=False)

    def recall(self, customer: str) -> tuple[float, float] | None:
        """The belief a new visit of this customer starts from, or None (then: the prior)."""
        return self._beliefs.get(customer)

    def forget(self, customer: str) -> None:
        self._beliefs.pop(customer, None)
