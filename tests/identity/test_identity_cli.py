"""`customers` commands as store staff use them: exit codes, one-line problems, and no keys on screen."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from identity_helpers import SAMPLE_IRK_HEX, SECRET_HEX, record, write_jsonl
from typer.testing import CliRunner

from gateway.cli_customers import customers_app
from gateway.identity.registry import Registry

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    d.mkdir()
    (d / "gateway.toml").write_text('store_id = "s1"\ngateway_id = "gw-1"\nstate_dir = "state"\n')
    return d


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(customers_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def keyed(cid: str) -> dict[str, object]:
    return record(cid, identifiers=[{"kind": "token", "secret": SECRET_HEX}, {"kind": "irk", "irk": SAMPLE_IRK_HEX}])


def test_import_list_show_revoke_export(config: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [keyed("cust-1"), record("cust-2", expires_at="2030-01-01")])
    code, out, err = run("import", str(path), "--config", str(config))
    assert code == 0, err
    assert "2 added" in out

    code, out, _ = run("list", "--config", str(config))
    assert code == 0
    assert "cust-1" in out and "cust-2" in out and "irk×1" in out and "2030-01-01" in out

    code, out, _ = run("show", "cust-1", "--config", str(config))
    assert code == 0 and json.loads(out)["segments"] == ["coffee"]

    code, out, _ = run("revoke", "cust-1", "--config", str(config))
    assert code == 0 and "revoked" in out
    code, out, _ = run("list", "--json", "--config", str(config))
    listed = {c["customer_id"]: c for c in json.loads(out)["customers"]}
    assert listed["cust-1"]["consent"] is False and listed["cust-1"]["identifiers"] == []

    code, out, _ = run("export", "cust-2", "--config", str(config))
    assert code == 0 and json.loads(out)["customer_id"] == "cust-2"
    target = tmp_path / "export.json"
    code, out, _ = run("export", "cust-2", "--out", str(target), "--config", str(config))
    assert code == 0 and json.loads(target.read_text())["customer_id"] == "cust-2"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_rejected_rows_exit_1_and_the_rest_is_imported(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"customer_id,consent,token\ngood,true,{SECRET_HEX}\nbad,true,abcd\n")
    code, out, err = run("import", str(path), "--config", str(config))
    assert code == 1
    assert "1 added" in out and "1 rejected" in out
    assert (
        err.strip()
        == f"error: {path}: line 3: identifiers[0].secret: must be 16..32 bytes (32..64 hex digits), got 2 bytes"
    )
    assert "abcd" not in err
    with Registry(config / "state" / "registry.db") as reg:
        assert [c.customer_id for c in reg.consenting()] == ["good"]


def test_rows_that_can_never_be_recognised_are_imported_with_a_warning(config: Path, tmp_path: Path) -> None:
    """A consent already expired, or a consenting customer with no identifier, counted as "added" without a word:
    a marketer would look for coupons that can never reach them."""
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            record("ok"),
            record("lapsed", expires_at="2020-01-31"),
            record("keyless", identifiers=[]),
            record("crm", email="ann@example.com"),  # a CRM's own key: ignored and named, the customer imported
        ],
    )
    code, out, err = run("import", str(path), "--config", str(config))
    assert code == 0 and "4 added" in out and "ann@" not in err
    assert err.splitlines() == [
        f"warning: {path}: line 4: email: not a customer record key; ignored",
        f"warning: {path}: line 2: expires_at: 2020-01-31T00:00:00Z has passed: lapsed's consent is imported but "
        "expired, and they are not recognised",
        f"warning: {path}: line 3: identifiers: none: nothing can recognise keyless",
    ]


def test_a_file_that_grants_and_withdraws_one_customer_imports_the_withdrawal(config: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [record("c1"), record("c2"), record("c1", consent=False, identifiers=[])])
    code, out, err = run("import", str(path), "--config", str(config))
    assert code == 1 and "1 rejected" in out  # the duplicate is still a problem in the file, named
    assert "line 3: customer_id: duplicate of line 1 (this row withdraws consent" in err
    with Registry(config / "state" / "registry.db") as reg:
        assert [c.customer_id for c in reg.consenting()] == ["c2"]


def test_no_keys_in_any_output(config: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [keyed("cust-1")])
    outputs = [run("import", str(path), "--config", str(config))]
    outputs += [run(*cmd, "--config", str(config)) for cmd in (["list"], ["list", "--json"], ["show", "cust-1"])]
    outputs.append(run("export", "cust-1", "--config", str(config)))
    for code, out, err in outputs:
        assert code == 0
        for key in (SECRET_HEX, SAMPLE_IRK_HEX):
            assert key not in out and key not in err
    # Only a deliberate flag puts keys in an export.
    code, out, _ = run("export", "cust-1", "--include-secrets", "--config", str(config))
    assert code == 0 and SECRET_HEX in out


def test_unknown_customer_and_bad_config_are_one_line_errors(config: Path, tmp_path: Path) -> None:
    for cmd in (["show", "nobody"], ["revoke", "nobody"], ["export", "nobody"]):
        code, _, err = run(*cmd, "--config", str(config))
        assert (code, err.strip()) == (1, "error: nobody: no such customer")
    code, _, err = run("list", "--config", str(tmp_path / "missing"))
    assert code == 1
    assert err.strip() == f"error: {tmp_path / 'missing' / 'gateway.toml'}: file not found"
    assert "Traceback" not in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "gateway.toml").write_text('store_id = "s1"\n')
    code, _, err = run("list", "--config", str(bad))
    assert code == 1 and "gateway_id" in err


def test_config_is_also_dash_c(config: Path) -> None:
    """Every other command takes `-c DIR`; `customers list -c DIR` was `no such option: -c`, exit 2."""
    assert run("list", "-c", str(config))[0] == 0


def test_usage_errors_exit_2(config: Path) -> None:
    assert run("import")[0] == 2
    assert run("frobnicate")[0] == 2


def test_revoking_twice_is_fine(config: Path, tmp_path: Path) -> None:
    run("import", str(write_jsonl(tmp_path / "c.jsonl", [record("c1")])), "--config", str(config))
    assert run("revoke", "c1", "--config", str(config))[0] == 0
    code, out, _ = run("revoke", "c1", "--config", str(config))
    assert code == 0 and "already revoked" in out
    # A stale re-import does not bring the customer back.
    code, _, err = run("import", str(tmp_path / "c.jsonl"), "--config", str(config))
    assert code == 1 and "consent: revoked at" in err


def test_list_shows_a_long_id_and_every_segment_whole_at_80_columns(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A UUID customer id was listed as `3f2a9c7e-1…` and segments as `household-…`: the id staff need for
    `customers revoke` was not there to copy."""
    monkeypatch.setenv("COLUMNS", "80")
    cid = "3f2a9c7e-1b4d-4e8a-9c1f-7d2e5a6b8c90"
    segments = ["household-fan", "loyalty-gold", "newsletter"]
    path = write_jsonl(tmp_path / "c.jsonl", [record(cid, segments=segments, expires_at="2030-01-01")])
    assert run("import", str(path), "--config", str(config))[0] == 0
    code, out, _ = run("list", "--config", str(config))
    assert code == 0 and "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    # too wide for a table at 80 columns: a block of "column  value" lines, none cut or folded mid-word
    fields = dict(line.split(maxsplit=1) for line in out.splitlines() if line.startswith("  "))
    assert fields["customer"] == cid and fields["segments"] == ", ".join(segments)


def test_list_says_expired_for_a_consent_past_its_date(config: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [record("cust-old", expires_at="2001-01-01"), record("cust-new")])
    assert run("import", str(path), "--config", str(config))[0] == 0
    code, out, _ = run("list", "--config", str(config))
    assert code == 0
    old = next(line for line in out.splitlines() if "cust-old" in line)
    new = next(line for line in out.splitlines() if "cust-new" in line)
    assert "expired" in old and "expired" not in new


@pytest.mark.parametrize(("irks", "warned"), [(999, False), (1000, True)])
def test_importing_many_irks_says_how_often_a_strangers_address_matches_one_by_chance(
    config: Path, tmp_path: Path, irks: int, warned: bool
) -> None:
    """An RPA's hash is 24 bits: with n IRKs, one stranger's address in 2^24 / n resolves to some customer, who is
    then sent that stranger's coupons (a sweep saw three at 10,000 IRKs in one morning). A declined row's key and a
    token customer's do not count."""
    rows = [record(f"c{i}", identifiers=[{"kind": "irk", "irk": f"{i + 1:032x}"}]) for i in range(irks)]
    rows.append(record("no", consent=False, identifiers=[{"kind": "irk", "irk": "f" * 32}]))
    rows.append(record("tok"))
    code, _, err = run("import", str(write_jsonl(tmp_path / "c.jsonl", rows)), "--config", str(config))
    assert code == 0, err
    note = [line for line in err.splitlines() if "by chance" in line]
    if warned:
        assert len(note) == 1 and "1,000 consenting customers are recognised by IRK" in note[0]
        assert f"one stranger's resolvable address in {2**24 // 1000:,}" in note[0]  # 16,777
    else:
        assert note == []


def test_an_export_written_over_an_older_file_is_private_too(config: Path, tmp_path: Path) -> None:
    """O_CREAT's mode applies to new files only: an export over an older 0644 file stayed readable to all, keys
    included with --include-secrets."""
    path = write_jsonl(tmp_path / "c.jsonl", [keyed("cust-1")])
    assert run("import", str(path), "--config", str(config))[0] == 0
    target = tmp_path / "export.json"
    target.write_text("old")
    target.chmod(0o644)
    code, _, err = run("export", "cust-1", "--include-secrets", "--out", str(target), "--config", str(config))
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and SECRET_HEX in target.read_text()


def test_an_export_does_not_follow_a_symbolic_link(config: Path, tmp_path: Path) -> None:
    """Run with sudo, an export to a name someone had planted as a symlink truncated the file it pointed to, wrote
    the customer's keys into it and made it 0600 (a security sweep)."""
    path = write_jsonl(tmp_path / "c.jsonl", [keyed("cust-1")])
    assert run("import", str(path), "--config", str(config))[0] == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("IMPORTANT\n")
    victim.chmod(0o644)
    (tmp_path / "out.json").symlink_to(victim)
    code, _, err = run("export", "cust-1", "--include-secrets", "--out", str(tmp_path / "out.json"), "--config",
                       str(config))  # fmt: skip
    assert code == 1 and err.strip() == f"error: {tmp_path / 'out.json'}: is a symbolic link; export to a new file name"
    assert victim.read_text() == "IMPORTANT\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
