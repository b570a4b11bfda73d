"""What a user of `proximity-sim generate` relies on: reproducible files in the SPEC formats."""

from __future__ import annotations

import gzip
import inspect
import itertools
import json
import stat
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gateway.sources.recording import read_recording
from gateway.truth import TruthIndex, read_truth
from simulator.cli import WalkDevice, generate
from simulator.generate import DAY_START_EPOCH, WALK_DEVICES, GenerateResult, calibration_device, generate_day
from simulator.movement import CALIBRATION_PER_ZONE_S
from simulator.radio import DEFAULT_RADIO
from simulator.store import load_store

FILES = (
    "scans.jsonl.gz",
    "truth.jsonl",
    "customers.jsonl",
    "calibration.jsonl.gz",
    "calibration-truth.jsonl",
    "config/gateway.toml",
    "config/campaigns.toml",
    "config/zones.toml",
)


def test_same_seed_gives_byte_identical_files(small_day: GenerateResult, tmp_path: Path) -> None:
    a = small_day  # the session's day, generated with the same arguments in another directory
    b = generate_day(tmp_path / "b", shoppers=8, duration_s=900, seed=11, progress=False)
    for name in (*FILES, "store.png"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name


def test_different_seeds_give_different_days(tmp_path: Path) -> None:
    a = generate_day(tmp_path / "a", shoppers=3, duration_s=240, seed=1, progress=False, plot=False, fit_zones=False)
    b = generate_day(tmp_path / "b", shoppers=3, duration_s=240, seed=2, progress=False, plot=False, fit_zones=False)
    assert a.scans.read_bytes() != b.scans.read_bytes()
    assert a.customers.read_bytes() != b.customers.read_bytes()


@pytest.mark.parametrize("day", ["small_day", "kiosk_day"])
def test_scans_follow_the_recording_format(day: str, request: pytest.FixtureRequest) -> None:
    res: GenerateResult = request.getfixturevalue(day)
    header, adverts, stats = read_recording(res.scans, strict=True)
    store = load_store(None if day == "small_day" else Path(__file__).parents[2] / "simulator/stores/small-kiosk.toml")
    assert header.store_id == store.store_id
    assert set(header.receivers) == {r.id for r in store.receiver}
    assert header.source is not None and header.source.startswith("proximity-sim")
    assert stats.malformed == 0 and stats.out_of_order == 0
    ts = [a.t for a in adverts]
    assert ts == sorted(ts)
    assert all(-127 <= a.rssi <= 0 for a in adverts)
    assert len(adverts) == res.adverts
    # every receiver hears something, none hears everything: the floor plan matters
    per_rx = Counter(a.rx for a in adverts)
    assert set(per_rx) == set(header.receivers)


def test_lines_are_what_advert_to_json_writes(small_day: GenerateResult) -> None:
    """The generator renders lines itself for speed: they must carry exactly the SPEC keys, in order."""
    with gzip.open(small_day.scans, "rt", encoding="utf-8") as f:
        next(f)
        for _, line in zip(range(200), f, strict=False):
            obj = json.loads(line)
            assert list(obj) == ["t", "rx", "addr", "rssi", "tx_power", "name", "mfr", "svc_data", "svc_uuids"]
            assert all(k.isdigit() for k in obj["mfr"]) and all(v == v.lower() for v in obj["mfr"].values())


@pytest.mark.parametrize("day", ["small_day", "kiosk_day"])
def test_truth_uses_store_zones_and_customer_ids(day: str, request: pytest.FixtureRequest) -> None:
    res: GenerateResult = request.getfixturevalue(day)
    truth = read_truth(res.truth)
    customers = [json.loads(x) for x in res.customers.read_text().splitlines()]
    consenting = {c["customer_id"] for c in customers if c["consent"]}
    _header, _, _ = read_recording(res.calibration)
    zones = set(json.loads(json.dumps(_zone_names(res))))
    assert truth, "a day with shoppers has truth"
    assert {iv.zone for iv in truth} <= zones | {"outside"}
    assert {iv.device for iv in truth} <= consenting, "truth only for opted-in customers"
    assert all(iv.t_end >= iv.t_start for iv in truth)
    # the intervals of one device never overlap
    index = TruthIndex(truth)
    for dev in index.devices:
        ivs = index.intervals(dev)
        assert all(a.t_end <= b.t_start + 1e-6 for a, b in itertools.pairwise(ivs))


def _zone_names(res: GenerateResult) -> list[str]:
    import tomllib

    return list(tomllib.loads((res.config_dir / "zones.toml").read_text())["zones"])


def test_calibration_walk_covers_every_zone_and_outside(small_day: GenerateResult) -> None:
    truth = read_truth(small_day.calibration_truth)
    _, adverts, _ = read_recording(small_day.calibration)
    store = load_store()
    tag = {iv.device for iv in truth}
    assert len(tag) == 1
    assert {a.addr for a in adverts} == tag, "the calibration truth names the tag's address as recorded"
    per_zone: Counter[str] = Counter()
    for iv in truth:
        per_zone[iv.zone] += iv.t_end - iv.t_start
    for zone in [*store.zone_names, "outside"]:
        # the standing time, plus the walk between its spots
        assert CALIBRATION_PER_ZONE_S <= per_zone[zone] <= 6 * CALIBRATION_PER_ZONE_S, (zone, per_zone[zone])
    assert max(a.t for a in adverts) < DAY_START_EPOCH, "the walk happens before opening"


def test_config_is_ready_to_replay(small_day: GenerateResult) -> None:
    import tomllib

    cfg = small_day.config_dir
    gw = tomllib.loads((cfg / "gateway.toml").read_text())
    assert gw["store_id"] == "store-042" and gw["gateway_id"] == "gw-1"
    assert gw["customers_file"] == "../customers.jsonl" and (cfg / gw["customers_file"]).is_file()
    assert gw["mqtt"]["url"] == "mqtt://127.0.0.1:1883"
    campaigns = tomllib.loads((cfg / "campaigns.toml").read_text())["campaign"]
    store = load_store()
    segments = {
        s for c in map(json.loads, small_day.customers.read_text().splitlines()) if c["consent"] for s in c["segments"]
    }
    assert len(campaigns) >= 2
    for c in campaigns:
        assert c["zone"] in store.zone_names
        assert 20 <= c["min_dwell_s"] <= 60
        assert set(c.get("segments", [])) <= segments
    assert set(_zone_names(small_day)) == set(store.zone_names)


def test_the_customers_keys_are_readable_by_their_owner_only(small_day: GenerateResult) -> None:
    """customers.jsonl (token secrets, IRKs) was written 0644 beside 0600 scans (a security sweep): synthetic
    keys, but a day made to look like a store's is handled like one."""
    assert stat.S_IMODE(small_day.customers.stat().st_mode) == 0o600


def test_floor_plan_png_is_written(small_day: GenerateResult) -> None:
    assert small_day.plot is not None
    assert small_day.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_other_store_has_its_own_geometry(kiosk_day: GenerateResult) -> None:
    truth = read_truth(kiosk_day.truth)
    assert {iv.zone for iv in truth} <= {"door", "magazines", "counter", "outside"}
    assert {iv.zone for iv in truth} & {"door", "magazines", "counter"}


def test_a_one_room_shop_with_one_receiver_still_makes_a_day(tmp_path: Path) -> None:
    """Integrators bring their own stores: no entrance/checkout keys, one zone, one receiver, door on top."""
    store = tmp_path / "one.toml"
    store.write_text(
        'store_id = "one"\nwidth = 6\nheight = 4\nentrance = [3, 4]\n'
        '[[zone]]\nname = "shop"\npolygon = [[0,0],[6,0],[6,4],[0,4]]\n'
        '[[receiver]]\nid = "r1"\nx = 3\ny = 2\n'
    )
    res = generate_day(
        tmp_path / "day", store=store, shoppers=4, duration_s=900, seed=2, progress=False, plot=False, fit_zones=False
    )
    truth = read_truth(res.truth)
    stays = [iv.t_end - iv.t_start for iv in truth if iv.zone == "shop"]
    assert stays and max(stays) >= 60, "shoppers browse the only room, long enough for a dwell campaign"
    assert {iv.zone for iv in truth} <= {"shop", "outside"}
    _, adverts, _ = read_recording(res.scans)
    assert {a.rx for a in adverts} == {"r1"}


def test_a_phone_walk_is_quieter_and_sparser_than_a_tag_walk_on_the_same_route(tmp_path: Path) -> None:
    """`--walk-device phone`: the same route and unit, carried on the body (more body loss) and advertising
    less often than the tag, so the walk is what a shopper's phone would give."""

    def packets(device: str) -> list[list[int]]:
        day = generate_day(
            tmp_path / device, shoppers=0, duration_s=60, seed=4, progress=False, plot=False, fit_zones=False,
            walk_device=device,
        )  # fmt: skip
        _, adverts, _ = read_recording(day.calibration)
        out: list[list[int]] = []
        last_t = -1.0
        for a in sorted(adverts, key=lambda a: a.t):
            if out and a.t - last_t < 0.05:  # the receivers' readings of one packet
                out[-1].append(a.rssi)
            else:
                out.append([a.rssi])
            last_t = a.t
        return out

    tag, phone = packets("tag"), packets("phone")
    assert 0.5 * len(tag) < len(phone) < 0.8 * len(tag)  # one packet per 0.3 s against 0.2 s
    per_packet = [sum(map(len, p)) / len(p) for p in (tag, phone)]
    assert per_packet[1] < per_packet[0]  # the body hides the phone from more receivers
    strongest = [sum(max(x) for x in p) / len(p) for p in (tag, phone)]
    assert strongest[1] < strongest[0] - 1.0  # and its best reading is weaker
    assert [d.value for d in WalkDevice] == list(WALK_DEVICES)  # the CLI offers exactly these
    with pytest.raises(ValueError, match="walk device 'drone'"):
        generate_day(tmp_path / "x", shoppers=0, duration_s=60, walk_device="drone", progress=False)


def test_a_longer_walk_is_walked_with_the_same_device() -> None:
    """Comparing two walks is comparing walks: how long or at how many spots the walk stands does not change the
    device it carries (its address and how loud it is). When the device came after the track in the draws, a
    longer walk also drew another tag, some dB louder or quieter (docs/zones.md, round 15)."""
    store = load_store()

    def device(seconds: float, sets: int | None) -> tuple[str, float, float]:
        dev = calibration_device(store, np.random.default_rng(11), 0.0, DEFAULT_RADIO, "tag", seconds, sets)
        return dev.frames.key.hex(), dev.offset_db, dev.track.t_end

    (key_a, offset_a, end_a), (key_b, offset_b, end_b) = device(45.0, 1), device(180.0, None)
    assert (key_a, offset_a) == (key_b, offset_b)
    assert end_b > 3 * end_a  # the walks themselves do differ


def test_a_longer_walk_covers_each_zone_at_more_points(tmp_path: Path) -> None:
    """`--walk-seconds-per-zone`: the walk stands in each zone about that long, at more spots spread over it
    (what a longer walk buys is coverage of the zone, not more of the same readings)."""

    def walk(seconds: float) -> tuple[dict[str, float], int]:
        day = generate_day(
            tmp_path / str(seconds), shoppers=0, duration_s=60, seed=4, progress=False, plot=False,
            fit_zones=False, walk_seconds_per_zone=seconds,
        )  # fmt: skip
        truth = read_truth(day.calibration_truth)
        per_zone: Counter[str] = Counter()
        for iv in truth:
            per_zone[iv.zone] += iv.t_end - iv.t_start
        _, adverts, _ = read_recording(day.calibration)
        return dict(per_zone), len(adverts)

    # the CLI writes the default out rather than import numpy to start: it must stay the simulator's
    assert inspect.signature(generate).parameters["walk_seconds"].default == CALIBRATION_PER_ZONE_S
    short, n_short = walk(45.0)
    long, n_long = walk(180.0)
    assert set(short) == set(long)
    inside = [z for z in short if z != "outside"]
    for z in inside:
        assert 45 <= short[z] <= 6 * 45, (z, short[z])  # 45 s standing plus the walk between spots
        assert long[z] >= 3 * short[z], (z, short[z], long[z])
    assert n_long > 2.5 * n_short  # the recording grows with it (the walk between zones does not)
    with pytest.raises(ValueError, match="walk seconds per zone"):
        generate_day(tmp_path / "x", shoppers=0, duration_s=60, walk_seconds_per_zone=0, progress=False)
