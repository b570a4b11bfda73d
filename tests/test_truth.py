"""Truth files as staff write them by hand (SPEC section 5): one device, one zone, however it was typed."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from gateway.truth import TruthError, read_truth


def write(path: Path, *rows: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def row(device: str, zone: str, t0: float = 1_772_438_400.0) -> dict[str, object]:
    return {"device": device, "zone": zone, "t_start": t0, "t_end": t0 + 60.0}


def test_a_tags_address_in_either_case_is_one_device(tmp_path: Path) -> None:
    """Typed once in lower case, it was a second device: the fit blamed a zone 'not heard' and evaluate scored a
    part of the walk that changed from run to run (set order)."""
    got = read_truth(write(tmp_path / "t.jsonl", row("FB:30:B8:F1:7C:56", "a"), row("fb:30:b8:f1:7c:56", "b")))
    assert {iv.device for iv in got} == {"FB:30:B8:F1:7C:56"}
    # a customer id is an id: its case is the customer's
    got = read_truth(write(tmp_path / "c.jsonl", row("cust-0001", "a"), row("Cust-0001", "b")))
    assert [iv.device for iv in got] == ["cust-0001", "Cust-0001"]


def test_a_zone_typed_with_a_combining_accent_is_the_zone_typed_with_a_precomposed_one(tmp_path: Path) -> None:
    """macOS writes 'é' as 'e' + U+0301: the fit made it a sixth zone, shown with the same name as the fifth."""
    decomposed = unicodedata.normalize("NFD", "Café & Thé")
    assert decomposed != "Café & Thé"
    got = read_truth(write(tmp_path / "t.jsonl", row("AA:BB:CC:DD:EE:FF", decomposed)))
    assert got[0].zone == "Café & Thé"


@pytest.mark.parametrize(
    ("zone", "words"),
    [("OUTSIDE", "the street is written 'outside', in lower case"), ("Unknown", "is what the gateway reports")],
)
def test_outside_and_unknown_in_another_case_are_named_not_made_zones(tmp_path: Path, zone: str, words: str) -> None:
    """'OUTSIDE' became a store zone in zones.toml, and the model had no outside class."""
    path = write(tmp_path / "t.jsonl", row("AA:BB:CC:DD:EE:FF", "a"), row("AA:BB:CC:DD:EE:FF", zone))
    with pytest.raises(TruthError) as e:
        read_truth(path)
    assert str(e.value).startswith(f"{path}:2: zone {zone!r}") and words in str(e.value)
