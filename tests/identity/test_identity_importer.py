"""Customers files: JSON Lines and the CSV layout; bad rows named by line and field, good rows kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from identity_helpers import SAMPLE_IRK_HEX, SECRET_HEX, UUID, record, write_jsonl

from gateway.identity.importer import read_customers_file


def test_jsonl_bad_rows_are_named_and_good_rows_kept(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            record("c1"),
            "",
            "{not json",
            record("c2", identifiers=[{"kind": "irk", "irk": "00" * 15}]),
            record("c3", identifiers=[{"kind": "ibeacon", "uuid": UUID, "major": 1, "minor": 2}]),
            record("c1", segments=["other"]),
        ],
    )
    parsed = read_customers_file(path)
    assert [r.customer.customer_id for r in parsed.records] == ["c1", "c3"]
    assert [r.line for r in parsed.records] == [1, 5]
    assert parsed.problems == [
        f"{path}: line 3: (record): invalid JSON",
        f"{path}: line 4: identifiers[0].irk: must be 16 bytes (32 hex digits), got 15 bytes",
        f"{path}: line 6: customer_id: duplicate of line 1 (the first is kept)",
    ]
    assert parsed.rejected == 3


@pytest.mark.parametrize("order", ["grant first", "withdrawal first"])
def test_a_withdrawal_among_rows_for_one_customer_wins_over_their_grants(tmp_path: Path, order: str) -> None:
    """Two lists merged, or an export with a later revocation appended: the customer said no in one of the rows,
    and no grant elsewhere in the file may override it, whichever comes first."""
    grant, withdrawal = record("c1"), record("c1", consent=False, identifiers=[])
    rows = [grant, withdrawal, grant] if order == "grant first" else [withdrawal, grant, grant]
    path = write_jsonl(tmp_path / "c.jsonl", [record("c0"), *rows])
    parsed = read_customers_file(path)
    assert [(r.customer.customer_id, r.customer.consent) for r in parsed.records] == [("c0", True), ("c1", False)]
    assert parsed.rejected == 2
    if order == "grant first":
        assert parsed.problems == [
            f"{path}: line 3: customer_id: duplicate of line 2 (this row withdraws consent, so it is kept instead "
            "of line 2)",
            f"{path}: line 4: customer_id: duplicate of line 2 (line 3, which withdraws consent, is kept)",
        ]
    else:
        assert parsed.problems == [
            f"{path}: line {n}: customer_id: duplicate of line 2 (the first is kept)" for n in (3, 4)
        ]


def test_csv_layout_with_kind_columns_and_identifiers_column(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "customer_id,consent,segments,expires_at,token,irk,ibeacon,eddystone_uid,address,identifiers\n"
        f"c1,true,coffee; gold,2030-01-01,{SECRET_HEX},{SAMPLE_IRK_HEX},{UUID}:1:7,{'aa' * 10}:{'bb' * 6},"
        "AA:BB:CC:DD:EE:01,address:AA:BB:CC:DD:EE:02\n"
        "\n"
        'c2,no,,,,,,,,"[{""kind"": ""address"", ""address"": ""AA:BB:CC:DD:EE:03""}]"\n'
    )
    parsed = read_customers_file(path)
    assert parsed.problems == []
    c1, c2 = parsed.customers
    assert c1.segments == {"coffee", "gold"}
    assert sorted(c1.kind_counts().items()) == [
        ("address", 2),
        ("eddystone_uid", 1),
        ("ibeacon", 1),
        ("irk", 1),
        ("token", 1),
    ]
    assert not c2.consent
    assert c2.identifiers[0].match_key() == "AA:BB:CC:DD:EE:03"


def test_csv_problems_name_line_and_field_without_values(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    short = "ab" * 10
    path.write_text(
        "customer_id,consent,token,identifiers\n"
        f"c1,maybe,{SECRET_HEX},\n"
        f"c2,true,{short},\n"
        f"c3,true,,{short}\n"
        f"c4,true,,bogus:{short}\n"
        f"c5,true,{SECRET_HEX}0,\n"
    )
    parsed = read_customers_file(path)
    assert parsed.customers == []
    assert parsed.problems == [
        f"{path}: line 2: consent: must be true or false",
        f"{path}: line 3: identifiers[0].secret: must be 16..32 bytes (32..64 hex digits), got 10 bytes",
        f"{path}: line 4: identifiers[0]: must be kind:value",
        f"{path}: line 5: identifiers[0]: unknown kind 'bogus' (expected one of token, irk, ibeacon, "
        "eddystone_uid, address)",
        f"{path}: line 6: identifiers[0].secret: is not valid hex",
    ]
    assert not any(short in p for p in parsed.problems)


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "customer_id,consnet\nc1,true\n",
            ["header: unknown column(s) 'consnet'", "header: missing column(s) consent"],
        ),
        # two 'address' columns stored the second address only, and said nothing
        (
            "customer_id,consent,address,address\nz1,true,AA:BB:CC:DD:EE:01,AA:BB:CC:DD:EE:02\n",
            [
                "header: column(s) 'address' named twice; for several identifiers of one kind use the 'identifiers' "
                "column"
            ],
        ),
    ],
    ids=["misspelt and missing", "a column named twice"],
)
def test_a_bad_csv_header_is_refused_not_half_read(tmp_path: Path, text: str, problems: list[str]) -> None:
    path = tmp_path / "c.csv"
    path.write_text(text)
    parsed = read_customers_file(path)
    assert parsed.customers == []
    assert parsed.problems == [f"{path}: line 1: {p}" for p in problems]


def test_csv_line_numbers_count_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('customer_id,consent,purpose\nc1,true,"two\nlines"\nc2,perhaps,x\n')
    parsed = read_customers_file(path)
    assert parsed.problems == [f"{path}: line 4: consent: must be true or false"]


def test_unreadable_files(tmp_path: Path) -> None:
    assert read_customers_file(tmp_path / "missing.jsonl").problems == [f"{tmp_path / 'missing.jsonl'}: file not found"]
    bad = tmp_path / "bin.jsonl"
    bad.write_bytes(b"\xff\xfe\x00")
    assert read_customers_file(bad).problems == [f"{bad}: line 1: not UTF-8 text (save the file as UTF-8)"]


def test_format_is_sniffed_when_the_suffix_says_nothing(tmp_path: Path) -> None:
    j = tmp_path / "customers.txt"
    j.write_text(json.dumps(record("c1", identifiers=[{"kind": "token", "secret": SECRET_HEX}])) + "\n")
    c = tmp_path / "customers.dat"
    c.write_text(f"customer_id,consent,segments,token\nc1,true,coffee,{SECRET_HEX}\n")
    assert read_customers_file(j).customers == read_customers_file(c).customers


def test_an_unclosed_quote_names_the_lines_it_swallowed(tmp_path: Path) -> None:
    """Rows after the quote used to vanish unmentioned; a quoted cell that spans lines on purpose stays fine."""
    bad = tmp_path / "c.csv"
    bad.write_text('customer_id,consent\nc-1,true\n"c-2,true\nc-3,true\nc-4,true\n')
    parsed = read_customers_file(bad)
    assert [c.customer_id for c in parsed.customers] == ["c-1"]
    assert parsed.problems == [
        f"{bad}: line 3: (row): a quote opened here is not closed, so lines 3-5 were read as one row"
    ]
