"""The dead-receiver test (gateway/zones/liveness.py): evidence, minimum silence, coming back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.zones.liveness import ReceiverLiveness

RX = ("rx-a", "rx-b", "rx-c")


class Driven(ReceiverLiveness):
    """A liveness with its own advertisement clock, updated once a second as the pipeline's sweep does."""

    def __init__(self, threshold: float = 50.0, min_silence: float = 30.0) -> None:
        super().__init__(RX, threshold_nats=threshold, min_silence_s=min_silence)
        self.t = 1000.0
        self.update(self.t, {})

    def step(self, loglik: dict[str, float], heard: tuple[str, ...] | set[str] = ()) -> frozenset[str]:
        self.t += 1.0
        for rx in heard:
            self.heard(rx)
        return self.update(self.t, loglik)


def run(live: Driven, seconds: int, loglik: dict[str, float], heard: tuple[str, ...] = ()) -> frozenset[str]:
    """`seconds` updates one second apart, the receivers in `heard` hearing something each second."""
    absent = live.absent
    for _ in range(seconds):
        absent = live.step(loglik, heard)
    return absent


def fresh(threshold: float = 50.0, min_silence: float = 30.0) -> Driven:
    return Driven(threshold, min_silence)


def test_a_receiver_the_devices_should_reach_is_absent_once_evidence_and_silence_suffice() -> None:
    live = fresh()
    # 5 nats a second against rx-a: the evidence passes 50 after 10 s, but the silence is too short until 30 s
    assert run(live, 29, {"rx-a": -5.0}, heard=("rx-b", "rx-c")) == frozenset()
    assert live.evidence("rx-a") == 145.0
    assert run(live, 1, {"rx-a": -5.0}, heard=("rx-b", "rx-c")) == {"rx-a"}
    assert live.silent_for("rx-a", live.t) == 30.0


def test_a_silent_receiver_far_from_every_device_stays_in() -> None:
    live = fresh()
    # a corner nobody visits: the walk says it hears little of where the devices are, so silence is expected
    assert run(live, 3600, {"rx-a": -0.01}, heard=("rx-b",)) == frozenset()
    assert 35.0 < live.evidence("rx-a") < 37.0


def test_one_advertisement_brings_a_receiver_back_and_starts_its_count_afresh() -> None:
    live = fresh()
    assert run(live, 40, {"rx-a": -5.0}) == {"rx-a"}
    assert live.step({"rx-a": -5.0}, heard=("rx-a",)) == frozenset()
    assert live.evidence("rx-a") == 0.0
    assert run(live, 29, {"rx-a": -5.0}) == frozenset()  # a new silence needs its own 30 s


def test_a_receiver_hearing_all_along_is_never_absent_whatever_the_model_expects() -> None:
    live = fresh()
    assert run(live, 600, {"rx-a": -100.0, "rx-b": -100.0}, heard=("rx-a", "rx-b")) == frozenset()


def test_reset_forgets_every_silence() -> None:
    live = fresh()
    assert run(live, 40, {"rx-a": -5.0, "rx-b": -5.0}) == {"rx-a", "rx-b"}
    live.reset()
    assert live.absent == frozenset()
    assert live.update(5000.0, {"rx-a": -1000.0}) == frozenset()  # the first update after a reset only starts
    assert live.evidence("rx-a") == 0.0


def test_receivers_the_liveness_does_not_know_are_ignored() -> None:
    live = fresh()
    live.heard("rx-new")
    assert run(live, 40, {"rx-new": -100.0}) == frozenset()


@given(
    st.lists(
        st.tuples(st.sets(st.sampled_from(RX)), st.lists(st.floats(-20.0, 0.0), min_size=3, max_size=3)),
        max_size=120,
    )
)
def test_absent_means_silent_long_enough_with_enough_evidence(steps: list[tuple[set[str], list[float]]]) -> None:
    live = fresh(threshold=20.0, min_silence=10.0)
    silent_since = dict.fromkeys(RX, live.t)
    evidence = dict.fromkeys(RX, 0.0)
    was_absent: set[str] = set()
    for heard, ll in steps:
        absent = live.step(dict(zip(RX, ll, strict=True)), heard)
        for rx, v in zip(RX, ll, strict=True):
            if rx in heard:
                silent_since[rx], evidence[rx] = live.t, 0.0
                was_absent.discard(rx)
            else:
                evidence[rx] += v
            expect = rx not in heard and (
                rx in was_absent or (-evidence[rx] >= 20.0 and live.t - silent_since[rx] >= 10.0)
            )
            assert (rx in absent) == expect
            if expect:
                was_absent.add(rx)


def test_a_node_that_says_it_is_offline_is_left_out_at_once_and_a_clock_step_does_not_bring_it_back() -> None:
    live = fresh()
    live.offline = frozenset({"rx-b"})
    assert live.left_out == {"rx-b"}  # no evidence needed
    assert run(live, 40, {"rx-a": -5.0}, heard=("rx-b", "rx-c")) == {"rx-a"}
    assert live.left_out == {"rx-a", "rx-b"}
    live.reset()
    assert live.left_out == {"rx-b"}  # the node's word is not about the clock
