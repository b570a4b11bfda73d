"""`record` and `calibrate record` end to end, with a scripted radio behind bleak's BleakScanner."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from pathlib import Path

import aiomqtt
import pytest
import typer
from bleak.exc import BleakDBusError
from typer.testing import CliRunner

from gateway import cli_record
from gateway.adverts import Advert, encode_ibeacon
from gateway.cli_record import SPOT_S, calibrate_record_command, record_command, spot_cue
from gateway.clock import ClockSteps
from gateway.config import ConfigError, load_gateway_config
from gateway.delivery.topics import Topics
from gateway.identity.registry import Registry
from gateway.sources.bleak_convert import advertisement_data
from gateway.sources.recording import read_recording
from gateway.sources.scripted_backend import Emission, Script, ScriptedScanner
from gateway.sources.sightings import encode_batch
from gateway.truth import read_truth
from simulator.localbroker import Mosquitto, free_port

CUSTOMER_UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
STRANGER_UUID = "11111111-2222-3333-4444-555555555555"
CUSTOMER_ADDR = "C0:11:22:33:44:55"
STRANGER_ADDR = "4A:BB:CC:DD:EE:01"
TAG = "D4:00:00:00:00:07"
STATIC_RANDOM_RE = re.compile(r"^[C-F][0-9A-F](:[0-9A-F]{2}){5}$")
SHORT_S = "0.25"


def ibeacon(addr: str, uuid: str, rssi: int, delay_s: float = 0.01) -> Emission:
    mfr = {int(k): bytes.fromhex(v) for k, v in encode_ibeacon(uuid, 1, 7).items()}
    return Emission(addr, advertisement_data(rssi=rssi, mfr=mfr), delay_s)


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("record")(record_command)
    calibrate = typer.Typer()
    calibrate.command("record")(calibrate_record_command)
    app.add_typer(calibrate, name="calibrate")
    return app


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    d.mkdir()
    (d / "gateway.toml").write_text('store_id = "store-042"\ngateway_id = "gw-1"\nstate_dir = "state"\n')
    return d


def use_script(monkeypatch: pytest.MonkeyPatch, script: Script) -> None:
    monkeypatch.setattr(cli_record, "SCANNER_BACKEND", ScriptedScanner)
    monkeypatch.setattr(cli_record, "SCANNER_BACKEND_KWARGS", {"script": script})


def traffic() -> Script:
    return Script(
        repeat=[
            ibeacon(CUSTOMER_ADDR, CUSTOMER_UUID, -60),
            ibeacon(STRANGER_ADDR, STRANGER_UUID, -70),
            ibeacon(TAG, STRANGER_UUID, -55),
        ]
    )


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def test_record_writes_a_recording_in_the_spec_format(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_script(monkeypatch, traffic())
    out = tmp_path / "scans.jsonl.gz"
    code, stderr = invoke(app, "record", "--out", str(out), "--duration", SHORT_S, "--config", str(config_dir), "--all")
    assert code == 0, stderr
    header, adverts, stats = read_recording(out)
    assert stats.malformed == 0
    assert header.store_id == "store-042"
    assert header.source is not None and re.match(r"^bleak \S+ on the default adapter$", header.source)
    assert len(adverts) >= 3
    assert {a.rx for a in adverts} == {"gw-1"}
    assert {a.addr for a in adverts} == {CUSTOMER_ADDR, STRANGER_ADDR, TAG}
    customer = next(a for a in adverts if a.addr == CUSTOMER_ADDR)
    assert customer.mfr == encode_ibeacon(CUSTOMER_UUID, 1, 7)
    assert customer.rssi == -60
    assert "did not consent" in stderr  # recording everyone is a choice the user is told about
    assert f"recorded {len(adverts)} advertisements" in stderr
    before = out.read_bytes()
    use_script(monkeypatch, traffic())
    again = ("record", "--out", str(out), "--duration", SHORT_S, "--config", str(config_dir), "--all")
    code, stderr = invoke(app, *again)
    assert (
        code == 2
        and stderr.strip() == f"error: {out}: a recording is already there; choose another name, or give --overwrite"
    )
    assert out.read_bytes() == before  # a recording is not replaced by a repeated command
    use_script(monkeypatch, traffic())
    assert invoke(app, *again, "--overwrite")[0] == 0


def test_anonymise_gives_stable_pseudonyms_and_keeps_no_address(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for name in ("a.jsonl", "b.jsonl"):
        use_script(monkeypatch, traffic())
        out = tmp_path / name
        code, stderr = invoke(
            app, "record", "--out", str(out), "--duration", SHORT_S, "--config", str(config_dir), "--all", "--anonymise"
        )
        assert code == 0, stderr
        text = out.read_text()
        for addr in (CUSTOMER_ADDR, STRANGER_ADDR, TAG):
            assert addr not in text
        _, adverts, _ = read_recording(out)
        by_payload: dict[str, set[str]] = {}
        for a in adverts:
            by_payload.setdefault(f"{a.mfr}{a.rssi}", set()).add(a.addr)
        assert len(by_payload) == 3
        assert all(len(addrs) == 1 for addrs in by_payload.values())  # stable within the recording
        assert all(STATIC_RANDOM_RE.match(a.addr) for a in adverts)
        runs.append({a.addr for a in adverts})
    assert not runs[0] & runs[1]  # a fresh key per recording: two recordings cannot be linked


def test_only_known_keeps_consenting_customers_only(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = tmp_path / "customers.jsonl"
    rows = [
        {
            "customer_id": "cust-0001",
            "consent": True,
            "identifiers": [{"kind": "ibeacon", "uuid": CUSTOMER_UUID, "major": 1, "minor": 7}],
        },
        {
            "customer_id": "cust-0002",
            "consent": False,
            "identifiers": [{"kind": "address", "address": TAG}],
        },
    ]
    customers.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with Registry(config_dir / "state" / "registry.db") as registry:
        report = registry.import_file(customers)
        assert report.ok, report.problems
    use_script(monkeypatch, traffic())
    out = tmp_path / "known.jsonl"
    code, stderr = invoke(
        app, "record", "--out", str(out), "--duration", SHORT_S, "--config", str(config_dir), "--only-known"
    )
    assert code == 0, stderr
    _, adverts, _ = read_recording(out)
    assert adverts and {a.addr for a in adverts} == {CUSTOMER_ADDR}
    text = out.read_text()
    assert STRANGER_ADDR not in text and TAG not in text and STRANGER_UUID.replace("-", "") not in text
    assert "did not consent" not in stderr


def test_only_known_without_a_registry_is_one_clear_line(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_script(monkeypatch, traffic())
    out = tmp_path / "x.jsonl"
    code, stderr = invoke(
        app, "record", "--out", str(out), "--duration", SHORT_S, "--config", str(config_dir), "--only-known"
    )
    assert code == 1
    assert stderr.strip().count("\n") == 0
    assert "registry.db" in stderr and "customers import" in stderr
    assert not out.exists()


def test_bad_config_names_file_and_field(app: typer.Typer, tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "gateway.toml").write_text('store_id = "s"\ngateway_id = "g"\n[scanner]\nmode = "loud"\n')
    code, stderr = invoke(app, "record", "--out", str(tmp_path / "x.jsonl"), "--config", str(d))
    assert code == 1
    assert "gateway.toml: scanner.mode:" in stderr
    assert "Traceback" not in stderr


def test_without_bluetooth_record_says_what_is_missing(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    code, stderr = invoke(app, "record", "--out", str(tmp_path / "x.jsonl"), "--config", str(config_dir), "--all")
    assert code == 1
    assert stderr.startswith("error: cannot scan: no D-Bus system bus socket")
    assert "Traceback" not in stderr


def test_a_scanner_that_never_starts_fails_with_the_reason(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_script(monkeypatch, Script(start_errors=[BleakDBusError("org.bluez.Error.NotReady", [])] * 100))
    code, stderr = invoke(
        app, "record", "--out", str(tmp_path / "x.jsonl"), "--duration", SHORT_S, "--config", str(config_dir), "--all"
    )
    assert code == 1
    assert "scanning never started: BlueZ says the adapter is not ready" in stderr


def test_calibration_walk_appends_scans_and_labelled_intervals(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = tmp_path / "cal"
    for zone in ("coffee", "produce"):
        use_script(monkeypatch, traffic())
        code, stderr = invoke(
            app,
            "calibrate", "record", "--zone", zone, "--duration", SHORT_S, "--tag", TAG.lower(),
            "--out", str(out_dir), "--config", str(config_dir),
        )  # fmt: skip
        assert code == 0, stderr
        assert f"zone {zone}:" in stderr
        assert "spot 1: move two or three metres to a new spot" in stderr  # the walker is told to keep moving
    lines = (out_dir / "calibration.jsonl").read_text().splitlines()
    assert sum('"format":"proximity-scans"' in line for line in lines) == 1  # one header, then appends
    _, adverts, stats = read_recording(out_dir / "calibration.jsonl")
    assert stats.skipped == 0
    assert adverts and {a.addr for a in adverts} == {TAG}  # only the tag; bystanders are not kept
    truth = read_truth(out_dir / "calibration-truth.jsonl")
    assert [(iv.device, iv.zone) for iv in truth] == [(TAG, "coffee"), (TAG, "produce")]
    assert truth[0].t_start < truth[0].t_end <= truth[1].t_start < truth[1].t_end
    for adv in adverts:  # every recorded advertisement is labelled by exactly one interval
        assert sum(iv.t_start <= adv.t <= iv.t_end for iv in truth) == 1


def test_calibration_with_an_unheard_tag_labels_nothing(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_script(monkeypatch, traffic())
    out_dir = tmp_path / "cal"
    code, stderr = invoke(
        app, "calibrate", "record", "--zone", "coffee", "--duration", SHORT_S, "--tag", "D4:00:00:00:00:99",
        "--out", str(out_dir), "--config", str(config_dir),
    )  # fmt: skip
    assert code == 1
    assert "was not heard" in stderr
    assert not (out_dir / "calibration-truth.jsonl").exists()


@pytest.mark.parametrize("tag", ["", "D4:00:00:00:00", "not-an-address"])
def test_calibration_rejects_a_bad_tag_address(app: typer.Typer, config_dir: Path, tag: str) -> None:
    code, stderr = invoke(
        app, "calibrate", "record", "--zone", "coffee", "--duration", "1", "--tag", tag, "--config", str(config_dir)
    )
    assert code == 2
    assert "--tag" in stderr


@pytest.mark.parametrize("zone", ["", " ", " coffee", "coffee "])
def test_calibration_rejects_a_zone_name_fit_would_refuse_before_the_walk(
    app: typer.Typer, config_dir: Path, zone: str
) -> None:
    """`calibrate fit` refuses a truth zone with spaces at either end; a walker should hear it before walking."""
    code, stderr = invoke(
        app, "calibrate", "record", "--zone", zone, "--duration", "1", "--tag", TAG, "--config", str(config_dir)
    )
    assert code == 2
    assert "--zone" in stderr and stderr.count("\n") == 1


def test_record_keeps_only_consenting_customers_unless_told_otherwise(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SPEC section 6: a stranger's advertisement never reaches disk. Without a registry there is nobody to keep,
    # and `record` says so instead of silently recording everyone.
    use_script(monkeypatch, traffic())
    out = tmp_path / "scans.jsonl"
    code, stderr = invoke(app, "record", "--out", str(out), "--duration", SHORT_S, "--config", str(config_dir))
    assert code == 1
    assert "customers import" in stderr
    assert not out.exists()


class FakeNode:
    """A receiver node on the store's broker: publishes sightings batches of the tag (and of a customer, which a
    calibration walk must not keep) in a thread, stamped with the wall clock as a live node's would be."""

    def __init__(self, url: str, rx: str = "rx-node") -> None:
        self.url, self.rx = url, rx
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        host, port = self.url.removeprefix("mqtt://").split(":")
        topic = Topics("proximity", "store-042", self.rx).sightings(self.rx)
        async with aiomqtt.Client(host, int(port), identifier=f"fake-{self.rx}") as client:
            while not self.stop.is_set():
                now = time.time()
                lines = []
                for addr, rssi in ((TAG, -71), (CUSTOMER_ADDR, -66)):
                    line = Advert(now, self.rx, addr, rssi).to_json()
                    lines.append(line)
                await client.publish(topic, encode_batch(self.rx, lines), qos=0)
                self.sent += 1
                await asyncio.sleep(0.05)

    def __enter__(self) -> FakeNode:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def primary_config(tmp_path: Path, url: str, tags: str) -> Path:
    d = tmp_path / "primary"
    d.mkdir()
    (d / "gateway.toml").write_text(
        'store_id = "store-042"\ngateway_id = "gw-1"\nstate_dir = "state"\nrole = "primary"\n'
        f'[mqtt]\nurl = "{url}"\n[calibration]\ntags = {tags}\n'
    )
    return d


def test_on_the_primary_the_walk_hears_the_tag_through_the_receiver_nodes(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mosquitto: Mosquitto
) -> None:
    config_dir = primary_config(tmp_path, mosquitto.url, f'["{TAG.lower()}"]')
    out_dir = tmp_path / "cal"
    use_script(monkeypatch, traffic())
    with FakeNode(mosquitto.url) as node:
        code, stderr = invoke(
            app,
            "calibrate", "record", "--zone", "coffee", "--duration", "2.5", "--tag", TAG,
            "--out", str(out_dir), "--config", str(config_dir),
        )  # fmt: skip
    assert code == 0, stderr
    assert node.sent > 10
    _, adverts, _ = read_recording(out_dir / "calibration.jsonl")
    by_rx = {rx: [a for a in adverts if a.rx == rx] for rx in {a.rx for a in adverts}}
    assert set(by_rx) == {"gw-1", "rx-node"}  # the local radio and the node
    assert {a.addr for a in adverts} == {TAG}  # the node's customer advertisement is not part of the walk
    assert all(a.rssi == -71 for a in by_rx["rx-node"])
    (iv,) = read_truth(out_dir / "calibration-truth.jsonl")
    assert all(iv.t_start <= a.t <= iv.t_end for a in adverts)  # node batches from outside the walk are left out
    assert "rx-node" in stderr and "warning" not in stderr


def test_on_the_primary_a_broker_that_is_down_leaves_the_local_walk(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = primary_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", "[]")
    out_dir = tmp_path / "cal"
    use_script(monkeypatch, traffic())
    code, stderr = invoke(
        app,
        "calibrate", "record", "--zone", "coffee", "--duration", SHORT_S, "--tag", TAG,
        "--out", str(out_dir), "--config", str(config_dir),
    )  # fmt: skip
    assert code == 0, stderr
    assert {a.rx for a in read_recording(out_dir / "calibration.jsonl")[1]} == {"gw-1"}
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert any("other receivers are not heard" in w for w in warnings)
    assert any("[calibration] tags" in w for w in warnings)  # the tag is not listed for the nodes to forward


def test_calibration_tags_must_be_addresses(tmp_path: Path) -> None:
    d = primary_config(tmp_path, "mqtt://127.0.0.1:1", '["D4:00:00:00:00:07", "tag-7"]')
    with pytest.raises(ConfigError) as e:
        load_gateway_config(d)
    assert any("calibration.tags" in p and "tag-7" in p for p in e.value.problems)


def test_a_walk_with_a_store_app_phone_is_labelled_with_the_customer_id(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = tmp_path / "staff.jsonl"
    people.write_text(
        json.dumps(
            {
                "customer_id": "staff-1",
                "consent": True,
                "identifiers": [{"kind": "ibeacon", "uuid": CUSTOMER_UUID, "major": 1, "minor": 7}],
            }
        )
        + "\n"
    )
    with Registry(config_dir / "state" / "registry.db") as registry:
        assert registry.import_file(people).ok
    use_script(monkeypatch, traffic())
    out_dir = tmp_path / "cal"
    args = ["calibrate", "record", "--zone", "coffee", "--duration", SHORT_S, "--out", str(out_dir)]
    code, stderr = invoke(app, *args, "--customer", "staff-1", "--config", str(config_dir))
    assert code == 0, stderr
    _, adverts, _ = read_recording(out_dir / "calibration.jsonl")
    assert adverts and {a.addr for a in adverts} == {CUSTOMER_ADDR}  # the phone only, as heard
    assert [iv.device for iv in read_truth(out_dir / "calibration-truth.jsonl")] == ["staff-1"]

    code, stderr = invoke(app, *args, "--customer", "nobody", "--config", str(config_dir))
    assert code == 1 and len(stderr.strip().splitlines()) == 1 and "'nobody'" in stderr
    code, stderr = invoke(app, *args, "--customer", "staff-1", "--tag", TAG, "--config", str(config_dir))
    assert code == 2 and "--customer" in stderr


def test_the_walk_readout_asks_for_a_new_spot_every_few_seconds() -> None:
    assert spot_cue(0.0).startswith(f"spot 1: move two or three metres to a new spot in {SPOT_S:.0f} s")
    assert spot_cue(SPOT_S - 0.2).startswith("spot 1: move two or three metres to a new spot in 1 s")
    assert spot_cue(SPOT_S).startswith("spot 2:")
    assert spot_cue(10 * SPOT_S + 1).startswith("spot 11:")


def test_outside_the_readout_alternates_between_the_doorway_and_the_pavement() -> None:
    """Where people wait, right by the door, is the outside spot most easily read as the door zone: the walk has
    to stand there as well as out on the pavement (docs/zones.md, round 13)."""
    cues = [spot_cue(i * SPOT_S + 1, "outside") for i in range(4)]
    assert [c.split(":")[0] for c in cues] == ["spot 1", "spot 2", "spot 3", "spot 4"]
    assert "door" in cues[0] and "pavement" not in cues[0] and cues[2] == cues[0].replace("spot 1", "spot 3")
    assert "pavement" in cues[1] and "pavement" in cues[3]
    assert "move on in 4 s" in cues[0]
    assert "cover the whole zone" in spot_cue(1.0, "coffee")  # inside, the cue is as before


def test_a_clock_step_during_the_walk_labels_nothing(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NTP stepping the clock mid-walk (a Pi that booted without a real-time clock) would have made one interval
    of two clocks: a day long, or over readings of another walk."""
    use_script(monkeypatch, traffic())
    calls = iter(range(1_000_000))
    # the third advertisement arrives in a clock stepped an hour forward
    monkeypatch.setattr(ClockSteps, "check", lambda self, wall, mono: 3600.0 if next(calls) == 2 else None)
    out_dir = tmp_path / "cal"
    code, stderr = invoke(
        app, "calibrate", "record", "--zone", "coffee", "--duration", SHORT_S, "--tag", TAG,
        "--out", str(out_dir), "--config", str(config_dir),
    )  # fmt: skip
    assert code == 1
    assert "the wall clock stepped during the walk" in stderr and "walk this zone again" in stderr
    assert not (out_dir / "calibration-truth.jsonl").exists()


def test_the_walk_readout_is_not_cropped_at_80_columns(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rich's Live cropped each line of the readout at the console's width (80 off a terminal, and on many ssh
    # sessions): outside, the cue lost its countdown; and the summary line ran on from the readout's last row.
    monkeypatch.setenv("COLUMNS", "80")
    use_script(monkeypatch, traffic())
    code, stderr = invoke(
        app, "calibrate", "record", "--zone", "outside", "--duration", SHORT_S, "--tag", TAG,
        "--out", str(tmp_path / "cal"), "--config", str(config_dir),
    )  # fmt: skip
    assert code == 0, stderr
    assert re.search(r"where\s+people wait; move on in \d+ s", stderr), stderr
    assert "\nzone outside: " in stderr, stderr


@pytest.mark.parametrize("who", [["--customer", "staff-1"], None])
def test_a_consent_registry_this_user_may_not_read_asks_for_sudo(
    app: typer.Typer, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, who: list[str] | None
) -> None:
    # /var/lib/private is root's alone: the walk with a phone and `record` ended in a bare PermissionError
    real_stat = Path.stat
    denied = config_dir / "state"

    def stat(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        if self == denied or denied in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(Path, "stat", stat)
    use_script(monkeypatch, traffic())
    args = (
        ["calibrate", "record", "--zone", "coffee", "--duration", SHORT_S, *who, "--out", str(tmp_path / "cal")]
        if who
        else ["record", "--out", str(tmp_path / "x.jsonl"), "--duration", SHORT_S]
    )
    code, stderr = invoke(app, *args, "--config", str(config_dir))
    assert code == 1
    assert stderr.strip() == (
        f"error: {denied / 'registry.db'}: permission denied: the consent registry is the service's; "
        "run this command with sudo"
    )
