"""`proximity-gateway customers ...`: the consent registry for store staff (a thin layer over Registry).

Output never carries token secrets or IRKs (list/show show a fingerprint); problems go to stderr, one line each.
Exit codes: 0 ok, 1 a problem was found (some rows rejected, unknown customer, bad config), 2 usage.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from gateway.cli_console import cli_console
from gateway.cli_tables import print_rows
from gateway.config import DEFAULT_CONFIG_DIR, ConfigError, load_gateway_config
from gateway.identity.models import Customer
from gateway.identity.registry import Registry, RegistryError
from gateway.privacy import erase_customers, export_history, export_outbox

REGISTRY_FILE = "registry.db"

customers_app = typer.Typer(
    help="The consent registry: import, list, show, revoke and export customers.",
    no_args_is_help=True,
)

_out = cli_console()
_err = cli_console(stderr=True)

ConfigOption = typer.Option(DEFAULT_CONFIG_DIR, "--config", "-c", help="Config directory holding gateway.toml.")


def _fail(problems: list[str] | str) -> typer.Exit:
    # "error: " as every other command writes it, so a script or a person grepping the output finds them all
    for p in [problems] if isinstance(problems, str) else problems:
        _err.print(f"error: {p}", markup=False, soft_wrap=True)
    return typer.Exit(1)


def _state_dir(config: Path) -> Path:
    return load_gateway_config(config).state_dir


def registry_path(config: Path) -> Path:
    """`{state_dir}/registry.db` from the config directory's gateway.toml."""
    return _state_dir(config) / REGISTRY_FILE


@contextmanager
def _open(config: Path) -> Iterator[Registry]:
    try:
        path = registry_path(config)
    except ConfigError as e:
        raise _fail(e.problems) from None
    try:
        reg = Registry(path)
    except RegistryError as e:
        raise _fail(str(e)) from None
    try:
        yield reg
    except RegistryError as e:
        raise _fail(str(e)) from None
    finally:
        reg.close()


def _date(t: float | None) -> str:
    if t is None:
        return "-"
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):  # stored by a version that took any number: shown as it is
        return f"{t:g}"


def _consent_label(c: Customer) -> str:
    if c.consent:
        # the gateway judges expiry per advertisement; the list says it too, by today's clock
        return "expired" if c.expires_at is not None and c.expires_at <= time.time() else "yes"
    return "revoked" if c.revoked_at is not None else "no"


IMPORT_HELP = (
    "Import customers from FILE (JSON Lines per SPEC section 6, or CSV); re-importing updates.\n\n"
    "Bad rows are reported on stderr by line and field and skipped; the rest is imported (exit 1 if any row "
    "was bad). A record with consent false revokes. A revoked customer is re-granted only by a record whose "
    "consented_at is later than the revocation, or with --regrant.\n\n"
    "CSV: a header row, columns in any order: customer_id, consent (true/false), segments (a;b), purpose, "
    "expires_at and consented_at (epoch seconds or ISO date), identifiers (kind:value items separated by ; "
    "or a JSON array), and one column per kind with values separated by ; - token (secret hex), "
    "irk (32 hex), ibeacon (UUID:MAJOR:MINOR), eddystone_uid (NAMESPACE:INSTANCE), address (AA:BB:CC:DD:EE:FF).\n\n"
    "Example CSV row under the header customer_id,consent,segments,token,ibeacon: "
    "cust-1,true,coffee;gold,8f1c...,f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7"
)


@customers_app.command("import", help=IMPORT_HELP)
def import_command(
    file: Path = typer.Argument(..., help="Customers file: .jsonl or .csv"),
    config: Path = ConfigOption,
    regrant: bool = typer.Option(False, "--regrant", help="Let records re-grant consent to revoked customers."),
) -> None:
    with _open(config) as reg:
        report = reg.import_file(file, regrant=regrant)
    # A "consent": false row revokes: with the daemon stopped, its history and queued messages would wait for its
    # next start to go (as `customers revoke` erases them here, so does an import)
    revoked = [c.customer_id for c in report.changes if c.action == "revoked" and c.customer_id is not None]
    if revoked:
        erase_customers(_state_dir(config), revoked)
    _out.print(
        f"{file}: {report.rows} rows: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.revoked} revoked, {report.declined} declined, "
        f"{report.rejected} rejected",
        markup=False,
        soft_wrap=True,
    )
    for note in report.notes:
        _err.print(f"warning: {note}", markup=False, soft_wrap=True)
    if report.problems:
        raise _fail(report.problems)


@customers_app.command("list")
def list_command(
    config: Path = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout instead of a table."),
) -> None:
    """List customers: id, consent, segments, identifier kinds and counts, expiry. Never shows keys."""
    with _open(config) as reg:
        customers = reg.list()
    if as_json:
        typer.echo(json.dumps({"customers": [c.public_view() for c in customers]}))
        return
    rows = [
        (
            c.customer_id,
            _consent_label(c),
            c.purpose,
            ", ".join(sorted(c.segments)) or "-",
            ", ".join(f"{k}×{n}" for k, n in sorted(c.kind_counts().items())) or "-",
            _date(c.expires_at),
        )
        for c in customers
    ]
    columns = ("customer", "consent", "purpose", "segments", "identifiers", "expires (UTC)")
    print_rows(_out, f"{len(customers)} customers", columns, rows, [None if c.consent else "dim" for c in customers])


@customers_app.command("show")
def show_command(customer_id: str = typer.Argument(...), config: Path = ConfigOption) -> None:
    """Show one customer's record as JSON (keys replaced by fingerprints)."""
    with _open(config) as reg:
        c = reg.get(customer_id)
    if c is None:
        raise _fail(f"{customer_id}: no such customer")
    typer.echo(json.dumps(c.public_view(), indent=2))


@customers_app.command("revoke")
def revoke_command(customer_id: str = typer.Argument(...), config: Path = ConfigOption) -> None:
    """Revoke consent: deletes the customer's identifiers and keys, keeps a tombstone.

    A running gateway notices within seconds, stops recognising the customer and deletes their history.
    """
    with _open(config) as reg:
        existing = reg.get(customer_id)
        if existing is None:
            raise _fail(f"{customer_id}: no such customer")
        already = not existing.consent
        if not already:
            reg.revoke(customer_id)
    # The daemon may not be running: erase the stored history and queued messages here too. Again on a repeated
    # revoke: an earlier one may have stopped half way (an unreadable outbox) after the registry had changed.
    dropped = erase_customers(_state_dir(config), [customer_id])
    if already:
        typer.echo(f"{customer_id}: consent was already revoked; {dropped} queued messages deleted")
        return
    typer.echo(f"{customer_id}: consent revoked; identifiers, presence history and {dropped} queued messages deleted")


def _write_private(path: Path, text: str) -> None:
    # O_NOFOLLOW: run with sudo, an export to a name someone planted as a symlink overwrote (and chmod-ed) the file
    # it pointed to
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _fail(f"{path}: is a symbolic link; export to a new file name") from None
        raise
    # O_CREAT's mode applies to a new file only: an export written over an older 0644 one stayed readable to all,
    # secrets included with --include-secrets
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


@customers_app.command("export")
def export_command(
    customer_id: str = typer.Argument(...),
    config: Path = ConfigOption,
    out: Path | None = typer.Option(None, "--out", help="Write to this file (mode 0600) instead of stdout."),
    include_secrets: bool = typer.Option(
        False, "--include-secrets", help="Include token secrets and IRKs (otherwise fingerprints only)."
    ),
) -> None:
    """Everything the gateway holds about one customer, as JSON (for a data request)."""
    with _open(config) as reg:
        data: dict[str, Any] | None = reg.export(customer_id, include_secrets=include_secrets)
    if data is None:
        raise _fail(f"{customer_id}: no such customer")
    data["history"] = export_history(_state_dir(config), customer_id)
    data["queued_messages"] = export_outbox(_state_dir(config), customer_id)
    text = json.dumps(data, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        _write_private(out, text)
    except OSError as e:
        raise _fail(f"{out}: cannot write: {e.strerror}") from None
    typer.echo(f"{customer_id}: exported to {out}")
