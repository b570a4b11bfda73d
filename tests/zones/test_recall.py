"""A returning customer's offset (recall.py): what is kept, for how many, and what a visit that learnt nothing
does to it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.zones.recall import DRIFT_DB2, OffsetRecall

PRIOR_VAR = 3.27**2
T0 = 1_772_438_400.0


def test_a_departing_belief_comes_back_less_sure() -> None:
    r = OffsetRecall(PRIOR_VAR)
    r.remember("cust-1", -6.5, 1.5, T0)
    assert r.recall("cust-1") == (-6.5, 1.5 + DRIFT_DB2)
    assert r.recall("cust-2") is None


def test_a_belief_no_surer_than_the_prior_is_not_kept_and_drops_the_older_one() -> None:
    r = OffsetRecall(PRIOR_VAR)
    r.remember("cust-1", -6.5, 1.5, T0)
    # this visit learnt next to nothing (its steps were heard by one receiver, or it was short): the earlier
    # visit's figure is not confirmed by it, and a prior-like belief says nothing worth keeping
    r.remember("cust-1", -0.2, PRIOR_VAR - DRIFT_DB2 / 2, T0 + 3600)
    assert r.recall("cust-1") is None
    assert len(r) == 0


def test_repeated_visits_that_learn_little_wear_the_belief_out() -> None:
    r = OffsetRecall(PRIOR_VAR)
    r.remember("cust-1", -6.5, 1.5, T0)
    visits = 1
    while (back := r.recall("cust-1")) is not None:
        r.remember("cust-1", *back, T0 + visits * 86_400)  # the next visit leaves with what it started from
        visits += 1
    assert 2 <= visits <= 1 + PRIOR_VAR / DRIFT_DB2


@given(st.lists(st.integers(min_value=0, max_value=30), max_size=200), st.integers(min_value=1, max_value=10))
def test_it_keeps_the_most_recently_departed_customers(order: list[int], keep: int) -> None:
    r = OffsetRecall(PRIOR_VAR, keep=keep)
    for n in order:
        r.remember(f"cust-{n}", float(n), 1.0, T0)
    recent: list[int] = []
    for n in reversed(order):
        if n not in recent:
            recent.append(n)
    kept = recent[:keep]
    assert len(r) == len(kept)
    for n in kept:
        assert r.recall(f"cust-{n}") == (float(n), 1.0 + DRIFT_DB2)


def test_forget_removes_the_customer() -> None:
    r = OffsetRecall(PRIOR_VAR)
    r.remember("cust-1", -6.5, 1.5, T0)
    r.forget("cust-1")
    r.forget("cust-never-seen")
    assert r.recall("cust-1") is None


@given(
    st.lists(
        st.tuples(st.sampled_from(["remember", "learnt-nothing", "forget"]), st.integers(min_value=0, max_value=12)),
        max_size=120,
    ),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=20),
)
def test_the_changes_keep_a_stored_copy_equal_to_what_is_recalled(
    steps: list[tuple[str, int]], keep: int, every: int
) -> None:
    """The daemon writes `changes` to history.db every second and a revocation erases the customer's row itself:
    replayed that way, the stored copy holds exactly what memory would recall, and a restart restores it."""
    r = OffsetRecall(PRIOR_VAR, keep=keep)
    stored: dict[str, tuple[float, float, float]] = {}
    order: list[str] = []  # departures as the stored copy's times would order them

    def write() -> None:
        for c, belief in r.changes():
            stored.pop(c, None)
            if c in order:
                order.remove(c)
            if belief is not None:
                stored[c] = belief
                order.append(c)

    for i, (what, n) in enumerate(steps):
        c = f"cust-{n}"
        if what == "remember":
            r.remember(c, float(n), 1.0 + n / 10, T0 + i)
        elif what == "learnt-nothing":
            r.remember(c, 0.0, PRIOR_VAR, T0 + i)
        else:
            r.forget(c)
            stored.pop(c, None)  # what history.delete_customer does
            if c in order:
                order.remove(c)
        if i % every == 0:
            write()
    write()
    assert {c: got[:2] for c, got in stored.items()} == {c: b for c in stored if (b := r.recall(c)) is not None}
    assert len(stored) == len(r)
    again = OffsetRecall(PRIOR_VAR, keep=keep)
    again.restore((c, *stored[c]) for c in order)
    assert {c: again.recall(c) for c in stored} == {c: got[:2] for c, got in stored.items()}
    assert again.changes() == []  # what came from the file is not written back


def test_restore_keeps_the_most_recent_and_skips_what_is_not_a_belief() -> None:
    r = OffsetRecall(PRIOR_VAR, keep=2)
    r.restore(
        [
            ("oldest", 1.0, 1.0, T0),
            ("no-surer-than-the-prior", 2.0, PRIOR_VAR, T0 + 1),
            ("damaged", 3.0, float("nan"), T0 + 2),
            ("negative", 4.0, -1.0, T0 + 3),
            ("no-time", 4.5, 1.0, float("nan")),
            ("middle", 5.0, 1.0, T0 + 4),
            ("newest", 6.0, 1.0, T0 + 5),
        ]
    )
    assert len(r) == 2
    assert r.recall("middle") == (5.0, 1.0) and r.recall("newest") == (6.0, 1.0)
    r.remember("third", 7.0, 1.0, T0 + 6)
    assert r.recall("middle") is None  # the least recently departed goes first
    assert dict(r.changes()) == {"third": (7.0, 1.0 + DRIFT_DB2, T0 + 6), "middle": None}


def test_the_retention_forgets_who_was_last_heard_before_it() -> None:
    r = OffsetRecall(PRIOR_VAR)
    for k, days in enumerate((100, 40, 95, 1)):  # departures in this order, last heard `days` ago
        r.remember(f"cust-{k}", -3.0, 1.0, T0 - days * 86_400)
    r.changes()
    assert r.forget_before(T0 - 90 * 86_400) == 2
    assert [r.recall(f"cust-{k}") is not None for k in range(4)] == [False, True, False, True]
    assert r.changes() == []  # the stored copy is pruned by the same rule, not row by row
