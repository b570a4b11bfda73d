"""Configuration: every problem named with file and field, all at once; environment overrides for secrets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import ConfigError, load_gateway_config
from gateway.setup import load_config_dir

EXAMPLE = Path(__file__).resolve().parent.parent / "config"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("state"))
    return d


def add_campaigns(config: Path, *tables: str) -> None:
    """Appends `[[campaign]]` tables (their keys as written) to the example's campaigns.toml."""
    campaigns = config / "campaigns.toml"
    campaigns.write_text(campaigns.read_text() + "".join(f"\n[[campaign]]\n{t}\n" for t in tables))


def check(config: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_the_shipped_example_config_is_valid(config: Path) -> None:
    code, out, err = check(config)
    assert code == 0, err
    assert "ok" in out


def test_all_problems_of_all_files_are_reported_at_once(config: Path) -> None:
    gw = config / "gateway.toml"
    gw.write_text(
        gw.read_text()
        .replace('store_id = "store-042"', 'store_id = "store 042"')
        .replace('url = "mqtt://127.0.0.1:1883"', 'url = "http://broker"')
        .replace('mode = "active"', 'mode = "loud"')
        .replace('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"')
    )
    (config / "campaigns.toml").write_text('[[campaign]]\nid = "x"\nzone = "nowhere"\nmin_dwell_s = -5\n')
    code, _, err = check(config)
    assert code == 1
    lines = err.strip().splitlines()
    for field in ("store_id", "mqtt.url", "scanner.mode", "timezone"):
        assert any(f"gateway.toml: {field}:" in line for line in lines), (field, lines)
    assert any("campaigns.toml" in line and "min_dwell_s" in line for line in lines)
    assert all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mqtt://127.0.0.1:0", "invalid port (0)"),
        ("mqtts://broker:0", "invalid port (0)"),
        ("mqtt://broker:1884/gateway", "a path or query would be ignored"),
        ("mqtt://broker:1884?tls=1", "a path or query would be ignored"),
        ("mqtt://gw1:s3cret@broker:1884", "carries a user name or password"),  # was ignored, and printed
        ("mqtts://gw1@broker", "carries a user name or password"),
    ],
)
def test_a_broker_url_that_would_not_mean_what_it_says_is_refused(config: Path, url: str, why: str) -> None:
    """urllib reads ":0" as no port; the default would then connect to some other broker on 1883 or 8883."""
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace('url = "mqtt://127.0.0.1:1883"', f'url = "{url}"'))
    code, out, err = check(config)
    assert code == 1
    assert "gateway.toml: mqtt.url: " in err and why in err
    assert "s3cret" not in out + err


def test_a_misspelt_key_is_named(config: Path) -> None:
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace("keepalive_s", "keepalive_secs"))
    code, _, err = check(config)
    assert code == 1
    assert "gateway.toml: mqtt.keepalive_secs: unknown key" in err


def test_a_key_written_below_a_table_header_is_said_to_be_there_not_misspelt(config: Path) -> None:
    """TOML reads every key below [mqtt] as the table's: a correct `state_dir` written there was "misspelt?"."""
    gw = config / "gateway.toml"
    lines = gw.read_text().splitlines()
    state = next(line for line in lines if line.startswith("state_dir"))
    lines.remove(state)
    lines.insert(lines.index("[mqtt]") + 1, state)
    gw.write_text("\n".join(lines) + "\n")
    code, _, err = check(config)
    assert code == 1
    assert (
        "mqtt.state_dir: unknown key: 'state_dir' is written after the [mqtt] header" in err and "misspelt" not in err
    )


def test_schedules_on_utc_because_no_timezone_was_written_are_named(config: Path) -> None:
    """A gateway.toml of SPEC's keys has no time zone: the example campaigns' hours and daily cap ran on UTC, and
    nothing said so (a review sweep)."""
    code, _, err = check(config)
    assert code == 0 and "timezone: not set" not in err  # the example names Europe/Berlin
    gw = config / "gateway.toml"
    gw.write_text("\n".join(x for x in gw.read_text().splitlines() if not x.startswith("timezone")) + "\n")
    code, _, err = check(config)
    assert code == 0 and "gateway.toml: timezone: not set, so campaign schedules, daily caps and budgets run" in err


def test_invalid_toml_names_the_file(config: Path) -> None:
    (config / "gateway.toml").write_text("store_id = \n")
    code, _, err = check(config)
    assert code == 1 and "gateway.toml: invalid TOML" in err


def test_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config directory not found"):
        load_config_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as e:
        load_config_dir(tmp_path / "empty")
    assert any("gateway.toml: file not found" in p for p in e.value.problems)
    assert any("zones.toml" in p for p in e.value.problems)


def test_environment_overrides_the_file_and_paths_are_relative_to_the_config_dir(config: Path) -> None:
    cfg = load_gateway_config(
        config,
        environ={
            "PROXIMITY_MQTT__PASSWORD": "s3cret",
            "PROXIMITY_MQTT__URL": "mqtts://broker.example:8883",
            "OTHER": "x",
        },
    )
    assert cfg.mqtt.password == "s3cret"
    assert cfg.mqtt.tls and cfg.mqtt.port == 8883 and cfg.mqtt.host == "broker.example"
    assert cfg.state_dir == config / "state"
    assert "s3cret" not in repr(cfg)  # secrets stay out of logs and error messages
    with pytest.raises(ConfigError) as e:
        load_gateway_config(config, environ={"PROXIMITY_MQTT__KEEPALIVE_S": "forever"})
    assert "mqtt.keepalive_s" in e.value.problems[0]
    assert e.value.problems[0].startswith("environment PROXIMITY_MQTT__KEEPALIVE_S: mqtt.keepalive_s:")


def test_a_problem_from_the_environment_names_the_variable_not_the_file(config: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_gateway_config(config, environ={"PROXIMITY_DEBUG": "1"})
    assert e.value.problems == ["environment PROXIMITY_DEBUG: debug: unknown key (misspelt?)"]
    with pytest.raises(ConfigError) as e:
        load_gateway_config(config, environ={"PROXIMITY_MQTT": "x", "PROXIMITY_MQTT__URL": "mqtt://127.0.0.1:1884"})
    assert e.value.problems == ["environment: PROXIMITY_MQTT__URL and PROXIMITY_MQTT both set mqtt"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('topic_prefix = "a/+/#"', "mqtt.topic_prefix"),
        ('topic_prefix = ""', "mqtt.topic_prefix"),
        ('topic_prefix = "acme//proximity"', "mqtt.topic_prefix"),
        ('topic_prefix = "prox\\u0000y"', "mqtt.topic_prefix"),  # the broker drops the connection: "timed out"
        ('ca_file = "missing-ca.pem"', "mqtt.ca_file"),
    ],
)
def test_what_the_daemon_would_trip_over_is_found_by_the_check(config: Path, line: str, field: str) -> None:
    """config check used to pass these; the daemon then failed at start, or queued everything for ever."""
    gw = config / "gateway.toml"
    text = gw.read_text().replace('topic_prefix = "proximity"', "#")  # the example sets it; set it once
    gw.write_text(text.replace('url = "mqtt://127.0.0.1:1883"', f'url = "mqtt://127.0.0.1:1883"\n{line}'))
    code, _, err = check(config)
    assert code == 1, err
    assert f"gateway.toml: {field}: " in err and len(err.strip().splitlines()) == 1


def test_a_directory_where_a_file_belongs_is_called_one(config: Path) -> None:
    """'/tmp not found' sent people looking for a typo in a path that exists."""
    gw = config / "gateway.toml"
    (config / "ca-dir").mkdir()
    gw.write_text(
        gw.read_text().replace('url = "mqtt://127.0.0.1:1883"', 'url = "mqtt://127.0.0.1:1883"\nca_file = "ca-dir"')
    )
    code, _, err = check(config)
    assert code == 1 and "mqtt.ca_file: a directory, not a file: " in err
    (config / "people").mkdir()
    text = gw.read_text().replace('\nca_file = "ca-dir"', "")
    gw.write_text(text.replace('# customers_file = "customers.jsonl"', 'customers_file = "people"'))
    code, _, err = check(config)
    assert code == 1 and "customers_file: " in err and "people is a directory, not a file" in err


def test_bad_rows_of_the_customers_file_are_named_by_the_check(config: Path) -> None:
    """The daemon imports the good rows and logs the bad ones; the check used to say "ok" and nothing else, so a
    customer with a mistyped key was found only by never being recognised."""
    good = {"customer_id": "c-1", "consent": True, "identifiers": [{"kind": "address", "address": "C0:00:00:00:00:01"}]}
    bad = {"customer_id": "c-2", "consent": True, "identifiers": [{"kind": "token", "secret": "zz" * 16}]}
    (config / "customers.jsonl").write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\n")
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace('# customers_file = "customers.jsonl"', 'customers_file = "customers.jsonl"'))
    code, out, err = check(config)
    assert code == 0 and "ok" in out  # the daemon runs with the good rows
    assert "customers.jsonl: line 2: identifiers[0].secret" in err
    assert "customers_file: 1 of 2 rows of " in err


def test_the_check_counts_the_irks_customers_import_put_in_the_registry(config: Path, tmp_path: Path) -> None:
    """The README says `config check` names the chance matches from 1,000 IRKs on; it counted only
    gateway.toml's customers_file, not the registry that `customers import` (the install guide's way) fills."""
    rows = [{"customer_id": f"c{i}", "consent": True, "identifiers": [{"kind": "irk", "irk": f"{i + 1:032x}"}]}
            for i in range(1000)]  # fmt: skip
    path = tmp_path / "irks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    state = load_gateway_config(config).state_dir
    imported = CliRunner().invoke(app, ["customers", "import", str(path), "--config", str(config)])
    assert imported.exit_code == 0, imported.stderr
    code, _, err = check(config)
    noted = [line for line in err.splitlines() if "by chance" in line]
    assert code == 0 and len(noted) == 1
    assert noted[0].startswith(f"warning: {state / 'registry.db'}: 1,000 consenting customers are recognised by IRK")


def test_a_state_dir_that_is_a_file_is_found_by_the_check(config: Path) -> None:
    (config / "state").write_text("not a directory")
    code, _, err = check(config)
    assert code == 1 and "gateway.toml: state_dir: " in err and "is not a directory" in err


def test_a_config_file_that_is_not_utf8_is_named(config: Path) -> None:
    (config / "gateway.toml").write_bytes(b'store_id = "caf\xe9"\n')
    code, _, err = check(config)
    assert code == 1 and err.strip() == f"error: {config / 'gateway.toml'}: not UTF-8 text (byte 15)"


def test_status_shows_names_and_errors_as_written(config: Path) -> None:
    """Receiver names and errors are text: rich read "rx-[b]" as a bold "rx-" and "[Errno 2]" could be a tag."""
    state = config / "state"
    state.mkdir()
    health = {
        "updated_at": time.time(),
        "running": True,
        "store_id": "store-[042]",
        "receivers_absent": ["rx-[b]"],
        "last_error": "[Errno 2] No such file or directory: '/dev/[hci0]'",
    }
    (state / "health.json").write_text(json.dumps(health))
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 1, result.output  # a receiver left out is a problem
    for shown in ("store-[042]", "rx-[b]", "[Errno 2] No such file or directory: '/dev/[hci0]'"):
        assert shown in result.stdout


def test_status_shows_messages_the_broker_can_never_take(config: Path) -> None:
    """A trigger the broker refuses for good is set aside in the outbox; only one log line said so, and `status`
    showed an empty outbox as if everything had gone out."""
    state = config / "state"
    state.mkdir()
    health = {"updated_at": time.time(), "outbox_depth": 0, "dead_letters": 3, "housekeeping_errors": 2}
    (state / "health.json").write_text(json.dumps(health))
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["status", "--config", str(config)])
    assert "messages set aside" in result.stdout and "3: the broker can never take them" in result.stdout
    assert "housekeeping errors" in result.stdout


@pytest.mark.parametrize("level", ['"loud"', '{"median_db": "loud", "devices": 12}', '{"median_db": true}', "[]"])
def test_status_shows_a_health_file_with_an_odd_device_level_without_it(config: Path, level: str) -> None:
    """A hand-edited or truncated health file still gives a status table, without the "devices vs walk" row."""
    state = config / "state"
    state.mkdir()
    health = f'{{"updated_at": {time.time()}, "store_id": "store-042", "device_level": {level}}}'
    (state / "health.json").write_text(health)
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "devices vs walk" not in result.stdout and "store-042" in result.stdout


@pytest.mark.parametrize("content", ["[1]", '{"updated_at": "x"}', "{}", "not json"])
def test_status_on_a_health_file_it_did_not_write_is_one_line(config: Path, content: str) -> None:
    state = config / "state"
    state.mkdir()
    (state / "health.json").write_text(content)
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {state / 'health.json'}: "), lines


def test_status_json_of_a_gateway_that_never_ran_is_still_one_object(config: Path) -> None:
    """A monitoring script parses stdout: `status --json` printed nothing there when no health file existed."""
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert result.exit_code == 1
    health = json.loads(result.stdout)
    assert health["running"] is False and "no health file" in health["problem"]
    assert result.stderr.startswith("error: ") and "no health file" in result.stderr


def test_an_infinite_duration_is_refused(config: Path) -> None:
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace("reconnect_max_s = 30.0", "reconnect_max_s = inf"))
    code, _, err = check(config)
    assert code == 1 and "gateway.toml: mqtt.reconnect_max_s: " in err


def test_true_or_false_where_a_number_belongs_is_refused_in_every_file(config: Path) -> None:
    """pydantic read `true` as 1: `min_dwell_s = true` was a 1 s dwell and `port = true` port 1."""
    for name, old, new in (
        ("gateway.toml", "reconnect_max_s = 30.0", "reconnect_max_s = true"),
        ("gateway.toml", "port = 9464", "port = false"),
        ("campaigns.toml", "min_dwell_s = 30 ", "min_dwell_s = true "),
        ("campaigns.toml", "max_per_day = 4 ", "max_per_day = true "),
        ("zones.toml", "window_s = ", "window_s = true #"),
    ):
        f = config / name
        assert old in f.read_text(), (name, old)
        f.write_text(f.read_text().replace(old, new, 1))
    code, _, err = check(config)
    assert code == 1
    lines = err.strip().splitlines()
    for field in ("mqtt.reconnect_max_s: true", "metrics.port: false", "caps.max_per_day: true"):
        assert any(line.endswith(f"{field} is not a number") for line in lines), (field, lines)
    assert any("campaigns.toml:" in line and "(#1): min_dwell_s: true is not a number" in line for line in lines)
    assert any("zones.toml: field 'params.window_s' missing or not a number" in line for line in lines), lines


def test_a_misspelt_gateway_key_is_offered_the_key_it_is_closest_to(config: Path) -> None:
    g = config / "gateway.toml"
    assert "[mqtt]\n" in g.read_text()
    g.write_text(g.read_text().replace("[mqtt]\n", "[mqtt]\nkeepalive = 30\n", 1))
    code, _, err = check(config)
    assert code == 1 and "gateway.toml: mqtt.keepalive: unknown key (did you mean 'keepalive_s'?)" in err, err


def test_tls_files_with_a_plain_mqtt_url_are_warned_about(config: Path) -> None:
    """A store that set its CA and client certificate but kept mqtt:// got no TLS and no word about it."""
    (config / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    g = config / "gateway.toml"
    g.write_text(g.read_text().replace("[mqtt]\n", '[mqtt]\nca_file = "ca.pem"\n', 1))
    assert 'url = "mqtt://' in g.read_text()
    code, _, err = check(config)
    assert code == 0, err
    assert "gateway.toml: mqtt.ca_file: set, but mqtt.url mqtt://" in err and "not encrypted" in err, err
    # ...and said with an error elsewhere too, not only once that error is fixed
    zones = config / "zones.toml"
    zones.write_text(zones.read_text() + "\n[typo_table]\n")
    code, _, err = check(config)
    assert code == 1 and "typo_table" in err and "not encrypted" in err, err
    zones.write_text(zones.read_text().replace("\n[typo_table]\n", ""))
    g.write_text(g.read_text().replace('url = "mqtt://', 'url = "mqtts://', 1))
    code, _, err = check(config)
    assert code == 0 and "not encrypted" not in err, err


def test_a_number_written_as_text_in_campaigns_is_refused(config: Path) -> None:
    """pydantic read `min_dwell_s = "90"` as 90 and `campaigns validate` said ok; a marketer who quoted one number
    may have written another as "1h". gateway.toml still takes text: the PROXIMITY_* environment is all text."""
    f = config / "campaigns.toml"
    for old, new in (("min_dwell_s = 30 ", 'min_dwell_s = "30" '), ("max_per_day = 4 ", 'max_per_day = "4" ')):
        assert old in f.read_text(), old
        f.write_text(f.read_text().replace(old, new, 1))
    code, _, err = check(config)
    assert code == 1
    assert '(#1): min_dwell_s: "30" is text, not a number (write it without quotes)' in err, err
    assert 'caps.max_per_day: "4" is text, not a number' in err, err
    g = config / "gateway.toml"
    g.write_text(g.read_text().replace("reconnect_max_s = 30.0", 'reconnect_max_s = "30"', 1))
    f.write_text(f.read_text().replace('min_dwell_s = "30" ', "min_dwell_s = 30 ").replace('"4"', "4"))
    code, _, err = check(config)
    assert code == 0, err


def test_status_says_not_running_once_the_daemons_process_is_gone(config: Path) -> None:
    """A daemon killed a moment ago leaves a fresh health file: the pid in the state lock has the last word."""
    state = config / "state"
    state.mkdir()
    (state / "health.json").write_text(json.dumps({"updated_at": time.time(), "store_id": "store-042"}))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    (state / "gateway.lock").write_text(gone.stdout)  # that process has exited
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["running"] is False
    assert json.loads(result.stdout)["problems"][0].startswith("not running (last update ")
    (state / "gateway.lock").write_text(f"{os.getpid()}\n")  # a live process
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert json.loads(result.stdout)["running"] is True and result.exit_code == 0


def test_status_of_a_stopped_gateway_says_its_scanner_and_broker_are_last_known(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table said "daemon: not running" and, below it, "scanner: scanning" and "broker: connected", from the
    health file the daemon left behind."""
    monkeypatch.setenv("COLUMNS", "200")
    state = config / "state"
    state.mkdir()
    health = {
        "updated_at": time.time() - 600,
        "scanner": "scanning",
        "broker_connected": True,
        "tracked_devices": 3,
        "device_level": {"median_db": -1.5, "devices": 12, "warning": None},
    }
    (state / "health.json").write_text(json.dumps(health))
    rows = {}
    for line in CliRunner().invoke(app, ["status", "--config", str(config)]).stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    assert rows["daemon"].startswith("not running")
    assert rows["scanner"] == "last known: scanning" and rows["broker"] == "last known: connected"
    assert rows["recognised devices"] == "last known: 3"
    assert rows["devices vs walk"] == "last known: -1.5 dB (median of 12 visits)"


def test_status_of_a_stopped_gateway_counts_the_outbox_itself(config: Path) -> None:
    """The health file's depth is from the daemon's last moment (22 where 24 waited after a kill -9)."""
    from gateway.delivery.outbox import Outbox

    state = config / "state"
    state.mkdir()
    (state / "health.json").write_text(json.dumps({"updated_at": time.time() - 600, "outbox_depth": 22}))
    outbox = Outbox(state / "outbox.db")
    try:
        for i in range(24):
            outbox.put(f"m-{i}", "proximity/store-042/presence", {"i": i}, None)
    finally:
        outbox.close()
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert result.exit_code == 1, result.output  # not running: a problem
    got = json.loads(result.stdout)
    assert got["running"] is False and got["outbox_depth"] == 24
    (state / "outbox.db").write_bytes(b"garbage" * 100)  # unreadable: the last known figure, not an error
    for extra in ("outbox.db-wal", "outbox.db-shm"):
        (state / extra).unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["outbox_depth"] == 22


def test_check_warns_when_the_gateways_own_radio_is_not_in_the_zone_model(config: Path) -> None:
    """The daemon names its radio's readings after gateway_id; zones fitted on other receivers' names (a renamed
    gateway, zones.toml copied from another store or the simulator) ignore everything it hears, and `config check`
    said ok. A warning, not an error: a replay takes the recording's receivers and does not need it."""
    gw = config / "gateway.toml"
    code, _, err = check(config)
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, err
    assert str(config / "zones.toml") in warnings[0] and "'gw-1'" in warnings[0] and "gateway_id" in warnings[0]
    gw.write_text(gw.read_text().replace('gateway_id = "gw-1"', 'gateway_id = "rx-entrance"'))
    assert "gateway_id" not in check(config)[2]
    gw.write_text(
        gw.read_text()
        .replace('gateway_id = "rx-entrance"', 'gateway_id = "gw-1"')
        .replace('role = "standalone"', 'role = "node"')
    )
    assert "gateway_id" not in check(config)[2]  # a node decides nothing: it needs no zone model of its radio


def test_a_key_handed_over_as_a_systemd_credential_is_not_checked_outside_the_service(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The install guide gives the client key to the service with LoadCredential=, at a path that exists only
    while the service runs: `config check`, `customers list` and `status`, run by hand as the guide says,
    stopped at "mqtt.key_file: no such file"."""
    key = "/run/credentials/proximity-gateway.service/client.key"
    assert not Path(key).exists()
    (config / "client.pem").write_text("certificate")
    gw = config / "gateway.toml"
    gw.write_text(
        gw.read_text().replace(
            'url = "mqtt://127.0.0.1:1883"',
            f'url = "mqtt://127.0.0.1:1883"\ncert_file = "client.pem"\nkey_file = "{key}"',
        )
    )
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    code, out, err = check(config)
    assert code == 0, err
    assert f"warning: {gw}: mqtt.key_file: {key} is a systemd credential" in err and "ok" in out
    assert load_gateway_config(config).mqtt.key_file == Path(key)
    # inside the service systemd sets CREDENTIALS_DIRECTORY: a missing credential is the error it always was
    with pytest.raises(ConfigError) as e:
        load_gateway_config(config, environ={"CREDENTIALS_DIRECTORY": "/run/credentials/proximity-gateway.service"})
    assert e.value.problems == [f"{gw}: mqtt.key_file: no such file: {key}"]


def deny_below(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """What a user other than root meets at the service's state directory (/var/lib/private is 0700 root)."""
    real_stat = Path.stat

    def stat(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        if self == denied or denied in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(Path, "stat", stat)


def test_a_state_dir_this_user_may_not_look_into_is_no_problem_for_the_commands_that_do_not_need_it(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # after the service's first start, `config check` (install guide section 3) and a tag walk (section 9) run
    # without sudo ended in "error: PermissionError: [Errno 13] Permission denied: '/var/lib/proximity-gateway'"
    deny_below(monkeypatch, config / "state")
    code, out, err = check(config)
    assert code == 0, err
    assert "ok" in out
    result = CliRunner().invoke(app, ["campaigns", "validate", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert "segments not checked (no consent registry readable at" in result.stdout


@pytest.mark.parametrize("value", ["0", "-1", "5000", '"forever"'])
def test_a_retention_that_keeps_nothing_or_forever_is_named(config: Path, value: str) -> None:
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace("retention_days = 90", f"retention_days = {value}"))
    code, _, err = check(config)
    assert code == 1
    assert "gateway.toml: history.retention_days: " in err and len(err.strip().splitlines()) == 1


def test_check_says_when_triggers_outlive_the_retention(config: Path) -> None:
    """The example's longest cooldown is a week: a day's retention still keeps a week of triggers, and says so."""
    assert "retention_days" not in check(config)[2]  # 90 days: nothing outlives it
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace("retention_days = 90", "retention_days = 1"))
    code, out, err = check(config)
    assert code == 0 and ": ok" in out
    lines = [line for line in err.splitlines() if "retention_days" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "kept 7 days" in lines[0], err


def test_check_gives_the_campaign_warnings_validate_gives(config: Path) -> None:
    """`campaigns validate` warned of a segment no customer has and of an end_date gone by; `config check`, which
    says it validates every file, said nothing of either."""
    (config / "customers.jsonl").write_text(
        '{"customer_id": "c1", "consent": true, "segments": ["coffee"], '
        '"identifiers": [{"kind": "address", "address": "C0:11:22:33:44:01"}]}\n'
    )
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace('# customers_file = "customers.jsonl"', 'customers_file = "customers.jsonl"'))
    add_campaigns(
        config,
        'id = "wine"\nzone = "coffee"\nsegments = ["sommelier"]',
        'id = "old"\nzone = "coffee"\n[campaign.schedule]\nend_date = 2020-01-31',
    )
    code, _, err = check(config)
    assert code == 0, err
    assert "campaign 'wine'" in err and "segments: no customer has segment 'sommelier'" in err
    assert "campaign 'old'" in err and "schedule.end_date: ended on 2020-01-31" in err
    validated = CliRunner().invoke(app, ["campaigns", "validate", "--config", str(config)])
    assert {line for line in validated.stderr.splitlines() if line.startswith("warning")} <= set(err.splitlines())


def test_bounds_required_keys_and_topic_names_are_named_in_plain_words(config: Path) -> None:
    """pydantic's "Field required" and "String should match pattern '^[A-Za-z0-9._-]+$'" were what a store's IT saw,
    and campaigns.toml's "Input should be greater than or equal to 0"."""
    gw = config / "gateway.toml"
    lines = [line for line in gw.read_text().splitlines() if not line.startswith("gateway_id")]
    gw.write_text("\n".join(line.replace('"store-042"', '"store 42"') for line in lines) + "\n")
    campaigns = config / "campaigns.toml"
    campaigns.write_text(campaigns.read_text().replace("max_per_day = 4", "max_per_day = -1"))
    code, _, err = check(config)
    assert code == 1
    assert f"{gw}: store_id: \"store 42\" may hold only letters, digits, '.', '_' and '-'" in err
    assert f"{gw}: gateway_id: missing: this key is required" in err
    assert f"{campaigns}: caps.max_per_day: must be 0 or more, not -1" in err


def test_a_state_dir_set_in_the_environment_is_blamed_on_the_environment(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gateway.toml said state_dir = "state"; the error named it for a file PROXIMITY_STATE_DIR pointed at."""
    afile = tmp_path / "afile"
    afile.write_text("")
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(afile))
    code, _, err = check(config)
    assert code == 1
    assert err.strip() == f"error: environment PROXIMITY_STATE_DIR: state_dir: {afile} exists and is not a directory"


def test_a_state_dir_the_gateway_cannot_write_in_is_named_before_it_starts(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An immutable or read-only state directory passed `config check`, and the replay then ended in
    "error: PermissionError: [Errno 1] Operation not permitted: '.../gateway.lock'"."""
    import errno
    import tempfile

    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PROXIMITY_STATE_DIR", str(state))

    def read_only(*_a: object, **_k: object) -> object:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    code, _, err = check(config)
    assert code == 1
    named = f"error: environment PROXIMITY_STATE_DIR: state_dir: {state}: cannot write there: Read-only file system"
    assert named in err


def test_an_error_no_longer_hides_the_warnings_beside_it(config: Path) -> None:
    """One error stopped `config check` before any warning: a marketer fixed the unknown zone, ran it again, and
    only then learnt that another campaign had a budget of 0."""
    add_campaigns(config, 'id = "wine"\nzone = "cellar"', 'id = "none"\nzone = "coffee"\nbudget_per_day = 0')
    code, _, err = check(config)
    assert code == 1
    lines = err.splitlines()
    assert any(
        line.startswith("error: ") and "campaign 'wine'" in line and "unknown zone 'cellar'" in line for line in lines
    )
    assert any(
        line.startswith("warning: ") and "campaign 'none'" in line and "budget_per_day: 0" in line for line in lines
    )
    validated = CliRunner().invoke(app, ["campaigns", "validate", "--config", str(config)])
    assert validated.exit_code == 1 and "budget_per_day: 0 means the campaign never fires" in validated.stderr


def test_status_reports_a_read_only_state_directory_and_json_on_a_config_error(config: Path, tmp_path: Path) -> None:
    """An SD card remounted read-only is when the report is needed most: `status` refused to read the health file
    because it could not write there; and a monitoring script got nothing on stdout for a config error."""
    state = config / "state"
    state.mkdir()
    (state / "health.json").write_text(json.dumps({"updated_at": time.time() - 600, "store_id": "store-042"}))
    import gateway.config as config_mod

    with pytest.MonkeyPatch.context() as m:
        m.setattr(config_mod, "_unwritable", lambda _d: "cannot write there: Read-only file system")
        code, _, err = check(config)
        assert code == 1 and "Read-only file system" in err  # run, replay and the check still refuse it
        result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert json.loads(result.stdout)["store_id"] == "store-042" and result.exit_code == 1  # not running
    (config / "gateway.toml").write_text("store_id = 42\n")
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    got = json.loads(result.stdout)
    assert result.exit_code == 1 and got["running"] is False and "store_id" in got["problems"][0]


def test_a_broker_password_where_others_can_read_it_is_warned_about(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config check said "ok" to a password in gateway.toml (kept readable to all, install guide section 3) and to
    one sent over mqtt:// to another machine, with the consent messages' keys (a security sweep)."""
    gw = config / "gateway.toml"
    original = gw.read_text()
    gw.write_text(original.replace('url = "mqtt://127.0.0.1:1883"', 'url = "mqtt://127.0.0.1:1883"\npassword = "s3"'))
    code, _, err = check(config)
    assert code == 0 and "mqtt.password: written in the file, which is readable to all" in err
    assert "clear text" not in err  # a broker on this machine: nothing crosses the network
    gw.write_text(original.replace("mqtt://127.0.0.1:1883", "mqtt://broker.store-042.example:1883"))
    monkeypatch.setenv("PROXIMITY_MQTT__PASSWORD", "s3")
    code, _, err = check(config)
    assert code == 0 and "written in the file" not in err
    assert "mqtt.url: mqtt://broker.store-042.example:1883 is not mqtts://, so the broker password" in err
    gw.write_text(original.replace("mqtt://127.0.0.1:1883", "mqtts://broker.store-042.example:8883"))
    code, _, err = check(config)
    assert code == 0 and "mqtt.password:" not in err and "clear text" not in err, err


def test_a_list_in_the_environment_is_written_as_in_gateway_toml(config: Path) -> None:
    """PROXIMITY_CALIBRATION__TAGS='["D4:..."]' was refused as 'not a list: write it in brackets', in brackets."""
    tags = '["D4:00:00:00:00:01", "D4:00:00:00:00:02"]'
    cfg = load_gateway_config(config, environ={"PROXIMITY_CALIBRATION__TAGS": tags})
    assert list(cfg.calibration.tags) == ["D4:00:00:00:00:01", "D4:00:00:00:00:02"]
    with pytest.raises(ConfigError) as e:
        load_gateway_config(config, environ={"PROXIMITY_CALIBRATION__TAGS": "D4:00:00:00:00:01"})
    assert e.value.problems == [
        'environment PROXIMITY_CALIBRATION__TAGS: calibration.tags: "D4:00:00:00:00:01" is not a list: write it in '
        'brackets, ["D4:00:00:00:00:01"]'
    ]


def test_a_password_that_starts_with_a_bracket_stays_text() -> None:
    """Reading every bracketed environment value as JSON made PROXIMITY_MQTT__PASSWORD='["s3cret"]' a list, which
    the model then refused (a review of the diff)."""
    cfg = load_gateway_config(EXAMPLE, environ={"PROXIMITY_MQTT__PASSWORD": '["s3cret"]'})
    assert cfg.mqtt.password == '["s3cret"]'
    cfg = load_gateway_config(EXAMPLE, environ={"PROXIMITY_RECOGNITION__PURPOSES": '["marketing", "analytics"]'})
    assert cfg.recognition.purposes == ["marketing", "analytics"]
    # as gateway.toml writes it, with single quotes too (a fleet re-check got "write it in brackets")
    cfg = load_gateway_config(EXAMPLE, environ={"PROXIMITY_RECOGNITION__PURPOSES": "['marketing', 'analytics']"})
    assert cfg.recognition.purposes == ["marketing", "analytics"]
