"""The drain scheduler: pipelined across customers, strictly one at a time and in order within a customer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.delivery.outbox import OutboxItem
from gateway.delivery.publisher import select_startable

customers = st.sampled_from(["a", "b", "c", "d", None])


@given(
    st.lists(customers, max_size=30),
    st.sets(st.integers(0, 29)),
    st.sets(st.sampled_from(["a", "b", "c", "d"])),
    st.integers(0, 10),
)
def test_select_startable(owners: list[str | None], skip: set[int], busy: set[str], room: int) -> None:
    batch = [OutboxItem(i, f"m{i}", "t", "{}", c, 1, 0.0) for i, c in enumerate(owners)]
    # An in-flight item's customer is busy, as in the drainer.
    busy = busy | {batch[i].customer_id for i in skip if i < len(batch) and batch[i].customer_id is not None}
    skip_ids = {f"m{i}" for i in skip}
    chosen = select_startable(batch, skip_ids, busy, room)

    assert len(chosen) <= room
    assert [it.seq for it in chosen] == sorted(it.seq for it in chosen)
    named = [it.customer_id for it in chosen if it.customer_id is not None]
    assert len(named) == len(set(named)), "two messages of one customer in flight"
    for it in chosen:
        assert it.msg_id not in skip_ids
        assert it.customer_id not in busy
        if it.customer_id is not None:  # nothing older of that customer waits
            older = [o for o in batch if o.customer_id == it.customer_id and o.seq < it.seq]
            assert all(o.msg_id in skip_ids for o in older)
    if len(chosen) < room:  # a free slot is never left while something could start
        chosen_customers = set(named)
        for it in batch:
            if it in chosen or it.msg_id in skip_ids:
                continue
            c = it.customer_id
            assert c is not None and (c in busy or c in chosen_customers or _has_waiting_older(batch, it, skip_ids))


def _has_waiting_older(batch: list[OutboxItem], item: OutboxItem, skip_ids: set[str]) -> bool:
    return any(o.customer_id == item.customer_id and o.seq < item.seq and o.msg_id not in skip_ids for o in batch)
