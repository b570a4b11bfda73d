"""`proximity-gateway replay` under faults, through the real command: the broker is away, the recording
is damaged. Nothing lost, nothing sent twice under a new id, one readable line per problem."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from simulator.localbroker import Mosquitto, free_port


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("day")
    subprocess.run(
        [sys.executable, "-m", "simulator", "generate", "--out", str(out), "--shoppers", "12", "--duration", "600",
         "--seed", "21"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return out


def replay(day: Path, scans: Path, url: str, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PROXIMITY_MQTT__URL": url,
        "PROXIMITY_STATE_DIR": str(state),
        "PROXIMITY_MQTT__RECONNECT_MAX_S": "0.3",
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway", "replay", str(scans), "--config", str(day / "config"), *extra],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def collect(port: int, topic: str) -> tuple[mqtt.Client, list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="faults-consumer")
    c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
    c.on_message = lambda _c, _u, m: got.append(json.loads(m.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, got


def test_broker_unreachable_at_start_then_back_nothing_lost(day: Path, tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state"
    first = replay(day, day / "scans.jsonl.gz", f"mqtt://127.0.0.1:{port}", state, "--drain-timeout", "2")
    assert first.returncode == 1
    last = first.stderr.strip().splitlines()[-1]
    assert "still queued" in last and "outbox.db" in last and "Traceback" not in first.stderr
    queued = int(last.split("error: ")[1].split()[0])
    assert queued > 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"format": "proximity-scans", "version": 1}) + "\n")
    # still away: the summary must not say the earlier run's events went out
    again = replay(day, empty, f"mqtt://127.0.0.1:{port}", state, "--drain-timeout", "1")
    assert again.returncode == 1 and "went out" not in again.stderr
    assert f"; {queued} events an earlier run had left queued were waiting too" in again.stderr

    with Mosquitto(tmp_path / "broker", port=port):
        client, got = collect(port, "proximity/+/triggers/#")
        time.sleep(0.3)
        second = replay(day, empty, f"mqtt://127.0.0.1:{port}", state)
        time.sleep(0.5)
        client.loop_stop()
    assert second.returncode == 0, second.stderr
    assert f"; {queued} events an earlier run had left queued went out too (same trigger ids)" in second.stderr
    ids = [p["trigger_id"] for p in got]
    assert ids and len(ids) == len(set(ids))
    # presence events were queued too; every trigger among them arrived, with the id it was created with
    assert {p["campaign_id"] for p in got} <= {
        c.split('"')[1] for c in (day / "config" / "campaigns.toml").read_text().splitlines() if c.startswith("id = ")
    }


def test_a_truncated_recording_replays_what_it_has_and_says_so(day: Path, tmp_path: Path, mosquitto: Mosquitto) -> None:
    data = (day / "scans.jsonl.gz").read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 3])
    result = replay(day, cut, mosquitto.url, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert "recording ends early" in result.stderr and "recording truncated" in result.stderr
    assert "Traceback" not in result.stderr


def test_garbage_lines_are_skipped_and_counted_unless_strict(day: Path, tmp_path: Path, mosquitto: Mosquitto) -> None:
    lines = gzip.decompress((day / "scans.jsonl.gz").read_bytes()).decode().splitlines()[:2000]
    lines[10] = "{broken"
    lines[20] = json.dumps({"t": "noon", "rx": "a", "addr": "b", "rssi": -50})
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    ok = replay(day, bad, mosquitto.url, tmp_path / "s1")
    assert ok.returncode == 0, ok.stderr
    assert f"{bad}:11: not valid JSON" in ok.stderr and f"{bad}:21: field 't'" in ok.stderr
    assert "2 lines skipped" in ok.stderr
    strict = replay(day, bad, mosquitto.url, tmp_path / "s2", "--strict")
    assert strict.returncode == 1
    assert strict.stderr.strip().splitlines()[-1] == f"error: {bad}:11: not valid JSON"


def test_a_file_that_is_mostly_not_advertisements_is_named(day: Path, tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The truth file passed where the scans belong: every line but the few that look like advertisements is
    skipped, as SPEC section 4 says, and the replay says what it suspects instead of ending on a count."""
    lines = gzip.decompress((day / "scans.jsonl.gz").read_bytes()).decode().splitlines()[:6]
    truth = (day / "truth.jsonl").read_text().splitlines()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(lines + truth) + "\n")
    result = replay(day, mixed, mosquitto.url, tmp_path / "state")
    assert result.returncode == 0, result.stderr  # skipped lines never stop a replay
    # the header is a line of the file too: the same total as the reader's own count ("N of M lines skipped")
    warning = f"warning: {mixed}: {len(truth):,} of its {len(truth) + 6:,} lines were skipped and 5 replayed: is it"
    assert warning in result.stderr
    fine = replay(day, day / "scans.jsonl.gz", mosquitto.url, tmp_path / "state2")
    assert "is it a scan recording" not in fine.stderr


def test_missing_recording_and_bad_usage(day: Path, tmp_path: Path, mosquitto: Mosquitto) -> None:
    missing = replay(day, tmp_path / "nope.jsonl", mosquitto.url, tmp_path / "s")
    assert missing.returncode == 1 and missing.stderr.strip() == f"error: {tmp_path / 'nope.jsonl'}: no such recording"
    both = replay(day, day / "scans.jsonl.gz", mosquitto.url, tmp_path / "s", "--fast", "--speed", "2")
    assert both.returncode == 2


def test_another_stores_recording_and_an_unknown_receiver_are_named(
    day: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """A renamed node's readings were ignored without a word (a sim day scored 0.000); so was a recording from
    another store. Both still replay, with one warning each."""
    lines = gzip.decompress((day / "scans.jsonl.gz").read_bytes()).decode().splitlines()[:20000]
    header = json.loads(lines[0])
    rx = sorted({json.loads(x)["rx"] for x in lines[1:200]})[0]
    lines[0] = json.dumps({**header, "store_id": "store-999"})
    renamed = [
        x.replace(f'"rx": "{rx}"', '"rx": "rx-renamed"').replace(f'"rx":"{rx}"', '"rx":"rx-renamed"') for x in lines
    ]
    assert any("rx-renamed" in x for x in renamed)
    scans = tmp_path / "other.jsonl"
    scans.write_text("\n".join(renamed) + "\n")
    result = replay(day, scans, mosquitto.url, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    warnings = [x for x in result.stderr.splitlines() if x.startswith("warning: ")]
    assert "warning: the recording is from store 'store-999'; the config is store 'store-042'" in warnings
    assert any(
        w.startswith(f"warning: receivers not in {day / 'config' / 'zones.toml'}: rx-renamed (") for w in warnings
    )


def test_a_receiver_that_dies_mid_recording_is_named(day: Path, tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Its silence is no longer read as evidence after a while (zones/liveness.py), and the replay says for how long
    it was left out, as the daemon's log would."""
    header, *lines = gzip.decompress((day / "scans.jsonl.gz").read_bytes()).decode().splitlines()
    died = (json.loads(lines[0])["t"] + json.loads(lines[-1])["t"]) / 2
    kept = [x for x in lines if not ('"rx":"rx-produce"' in x.replace(" ", "") and json.loads(x)["t"] >= died)]
    assert len(kept) < len(lines) - 100
    scans = tmp_path / "dead.jsonl"
    scans.write_text("\n".join([header, *kept]) + "\n")
    result = replay(day, scans, mosquitto.url, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    said = [x for x in result.stderr.splitlines() if x.startswith("warning: receiver rx-produce went silent")]
    assert len(said) == 1 and "zones were estimated without it for" in said[0]
    intact = replay(day, day / "scans.jsonl.gz", mosquitto.url, tmp_path / "state2")
    assert "went silent" not in intact.stderr


def test_a_recording_replayed_again_into_the_same_state_says_why_no_coupon_went(day: Path, tmp_path: Path) -> None:
    """A second test run into the first's state directory sent no trigger (the history had them all as sent
    this visit) and said nothing: it read as a broken gateway."""
    port = free_port()
    state = tmp_path / "state"
    with Mosquitto(tmp_path / "broker", port=port):
        first = replay(day, day / "scans.jsonl.gz", f"mqtt://127.0.0.1:{port}", state)
        second = replay(day, day / "scans.jsonl.gz", f"mqtt://127.0.0.1:{port}", state)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "already held triggers" not in first.stderr
    assert "events queued, every one acknowledged by the broker;" in first.stderr
    warning = [line for line in second.stderr.splitlines() if "already held triggers" in line]
    assert len(warning) == 1 and warning[0].startswith(f"warning: {state}: its history already held triggers up to")
    assert "replay into an empty state directory" in warning[0]


def test_a_replay_into_the_daemons_state_or_without_customers_says_so(day: Path, tmp_path: Path) -> None:
    """Following the install guide, a replay with the live config wrote its test coupons into the daemon's
    history and health, and `status` then showed them as the gateway's; a replay with nobody in the registry
    reported "0 recognised" and nothing more."""
    port = free_port()
    state = tmp_path / "state"
    state.mkdir()
    (state / "health.json").write_text(json.dumps({"written_by": "run", "updated_at": 1_800_000_000.0}))
    bare = tmp_path / "bare" / "config"  # the day's config without its customers file
    bare.mkdir(parents=True)
    for name in ("zones.toml", "campaigns.toml"):
        (bare / name).write_text((day / "config" / name).read_text())
    gateway = (day / "config" / "gateway.toml").read_text()
    (bare / "gateway.toml").write_text("\n".join(x for x in gateway.splitlines() if not x.startswith("customers_file")))
    with Mosquitto(tmp_path / "broker", port=port):
        into_live = replay(day, day / "scans.jsonl.gz", f"mqtt://127.0.0.1:{port}", state)
        nobody = replay(bare.parent, day / "scans.jsonl.gz", f"mqtt://127.0.0.1:{port}", tmp_path / "empty-state")
    assert into_live.returncode == 0, into_live.stderr
    assert f"warning: {state}: the daemon's state directory (`run` last wrote its health at 2027-01-15" in (
        into_live.stderr
    )
    assert "no consenting customer" not in into_live.stderr
    status = subprocess.run(
        [sys.executable, "-m", "gateway", "status", "--config", str(day / "config")],
        env={**os.environ, "PROXIMITY_STATE_DIR": str(state), "COLUMNS": "300"}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert f"not running; the rows below are from a replay of {day / 'scans.jsonl.gz'}" in status.stdout
    assert nobody.returncode == 0, nobody.stderr
    assert "(0 recognised)" in nobody.stderr
    assert "registry.db: no consenting customer (gateway.toml sets no customers_file): nobody could be recognised" in (
        nobody.stderr
    )


def test_a_state_dir_that_cannot_be_made_is_one_line_naming_it(day: Path, tmp_path: Path) -> None:
    """It was "error: FileNotFoundError: [Errno 2] No such file or directory: '/proc/...'", naming no setting."""
    bad = Path("/proc/no-such-gateway-state")
    result = replay(day, day / "scans.jsonl.gz", "mqtt://127.0.0.1:9", bad, "--drain-timeout", "1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: environment PROXIMITY_STATE_DIR: state_dir: {bad}: cannot use it: No such file or directory"
    )


async def test_a_paced_replay_that_falls_behind_still_lets_the_publisher_run() -> None:
    """`replay --speed 60` of a busy day: behind the pace, it never slept, so the publisher and the housekeeping
    (health file) waited for the end of the day: 300 events queued and `status` said "not running" (a fleet
    sweep)."""
    import asyncio

    from gateway.adverts import Advert
    from gateway.replay import _replay_paced

    handled: list[float] = []
    seen_by_others: list[int] = []

    class Runtime:  # what _replay_paced asks of the runtime
        def handle(self, adv: Advert) -> None:
            handled.append(adv.t)

        def flush(self) -> None:
            pass

    async def publisher() -> None:
        while True:
            seen_by_others.append(len(handled))
            await asyncio.sleep(0)

    other = asyncio.create_task(publisher())
    await asyncio.sleep(0)
    adverts = [Advert(1000.0 + i * 0.001, "rx-a", "C0:00:00:00:00:01", -60) for i in range(20_000)]
    await _replay_paced(Runtime(), adverts, speed=1e9)  # far faster than it can go: always behind
    other.cancel()
    assert len(handled) == 20_000
    assert any(0 < n < 20_000 for n in seen_by_others)  # the other task ran while the replay did
