"""What a returning customer's phone was learnt to read like on their last visit.

A phone's offset against the walk's device (tracker.py, "Each phone's offset") is learnt anew on every visit,
and until it is, the visit's first steps are placed as if the phone read like the walk's device. A regular
carries the same phone, so their next visit can start from what the last one learnt. On simulated days
(docs/zones.md, round 20) a second visit that started from the first one's belief placed customers 0.1-1.3
points better per layout, on 38 of 42 days.

Kept per customer id, bounded, most recently departed last; a revocation removes the customer's entry with the
rest of their state. The daemon keeps a copy in history.db (`changes` hands it what to write, `restore` takes
it back at start), under a digest of the zone model: an offset is relative to the walk's device, so nothing
learnt against an earlier walk is applied to a refitted zones.toml. Each entry keeps when the customer was last
heard, so gateway.toml's `[history] retention_days` lets go of it in memory as in the file (`forget_before`).
Offline scoring (the evaluations, the benchmarks) keeps it in memory for the one run.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable

KEEP_CUSTOMERS = 10_000  # regulars of a large store; 2.0 MB when full (tracemalloc, ids shared with the registry)
# Between visits the phone may sit in a new case or another pocket: the recalled belief is this much less sure
# than the one the visit left with. The simulator's phones never change, so it cannot say how much real ones
# do; there 2 dB^2 gave back two fifths of what recall wins, and 0.5 a tenth (docs/zones.md, round 20).
DRIFT_DB2 = 0.5

Belief = tuple[float, float]  # (mean dB, variance dB^2)
Departed = tuple[float, float, float]  # (mean dB, variance dB^2, when the customer was last heard)


class OffsetRecall:
    def __init__(self, prior_var_db2: float, keep: int = KEEP_CUSTOMERS) -> None:
        self._prior_var = prior_var_db2
        self._keep = keep
        self._beliefs: OrderedDict[str, Departed] = OrderedDict()
        self._changed: set[str] = set()  # customers whose entry was set or dropped since `changes` was last called

    def __len__(self) -> int:
        return len(self._beliefs)

    def remember(self, customer: str, mean_db: float, var_db2: float, t: float) -> None:
        """A departing visit's belief N(mean, var), the customer last heard at `t`; one that learnt nothing beyond
        the prior is not kept (and drops what an earlier visit left, which this visit could not confirm)."""
        self._beliefs.pop(customer, None)
        self._changed.add(customer)
        if var_db2 + DRIFT_DB2 >= self._prior_var:
            return
        if (evicted := self._put(customer, (mean_db, var_db2 + DRIFT_DB2, t))) is not None:
            self._changed.add(evicted)

    def _put(self, customer: str, entry: Departed) -> str | None:
        """The customer's entry, most recent last; returns whom the bound pushed out, if anyone."""
        self._beliefs.pop(customer, None)
        self._beliefs[customer] = entry
        return self._beliefs.popitem(last=False)[0] if len(self._beliefs) > self._keep else None

    def recall(self, customer: str) -> Belief | None:
        """The belief a new visit of this customer starts from, or None (then: the prior)."""
        got = self._beliefs.get(customer)
        return None if got is None else (got[0], got[1])

    def forget(self, customer: str) -> None:
        self._beliefs.pop(customer, None)
        self._changed.discard(customer)  # a revocation erases the stored copy itself: nothing is left to write

    def forget_before(self, t: float) -> int:
        """Retention: drops the customers last heard before `t` (the stored copy is pruned by the same rule, so
        nothing is marked changed). Returns how many."""
        old = [c for c, (_, _, last) in self._beliefs.items() if last < t]
        for c in old:
            del self._beliefs[c]
        return len(old)

    def changes(self) -> list[tuple[str, Departed | None]]:
        """What changed since the last call, for the stored copy: each customer's belief now, or None where it was
        dropped (a visit that learnt nothing, or worn out of the bound)."""
        out = [(c, self._beliefs.get(c)) for c in self._changed]
        self._changed.clear()
        return out

    def restore(self, beliefs: Iterable[tuple[str, float, float, float]]) -> None:
        """Beliefs as `changes` left them in the stored copy, least recently departed first (they already carry
        their drift). Entries that are not a belief worth keeping (a variance not between 0 and the prior's, a
        mean or time that is not a number: a damaged file) are skipped."""
        for customer, mean_db, var_db2, t in beliefs:
            if not (0.0 < var_db2 < self._prior_var and math.isfinite(mean_db) and math.isfinite(t)):
                continue
            self._put(customer, (mean_db, var_db2, t))
