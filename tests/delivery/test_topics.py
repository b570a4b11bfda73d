from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.delivery.topics import Topics


def test_spec_topics() -> None:
    t = Topics("proximity", "store-042", "gw-1")
    assert t.status == "proximity/store-042/gw-1/status"
    assert t.consent == "proximity/store-042/consent"
    assert t.redemptions == "proximity/store-042/redemptions"
    assert t.presence == "proximity/store-042/presence"
    assert t.trigger("coffee-10") == "proximity/store-042/triggers/coffee-10"
    assert t.sightings("rx-entrance") == "proximity/store-042/sightings/rx-entrance"
    assert t.full("x/y") == "proximity/store-042/x/y"


@given(st.tuples(st.text(max_size=8), st.sampled_from("/+#"), st.text(max_size=8)).map("".join))
def test_a_level_cannot_escape_into_other_topics(bad: str) -> None:
    with pytest.raises(ValueError):
        Topics("proximity", "s", "g").trigger(bad)
    with pytest.raises(ValueError):
        Topics("proximity", bad, "g")
