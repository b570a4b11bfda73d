"""Builders shared by the identity tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gateway.identity.models import Customer

SAMPLE_IRK_HEX = "ec0234a357c8ad05341010a60a397d9b"  # Bluetooth Core spec sample
SAMPLE_RPA = "70:81:94:0D:FB:AA"
SECRET_HEX = "8f1c2a3b4c5d6e7f8091a2b3c4d5e6f7"
UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
T0 = 1_732_450_000.0


def secret_for(cid: str) -> str:
    """A distinct 16-byte token secret per customer id (one key cannot belong to two customers)."""
    return hashlib.sha256(cid.encode()).hexdigest()[:32]


def record(cid: str = "cust-0001", consent: bool = True, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "customer_id": cid,
        "consent": consent,
        "segments": ["coffee"],
        "identifiers": [{"kind": "token", "secret": secret_for(cid)}],
    }
    rec.update(extra)
    return rec


def customer(cid: str = "cust-0001", **extra: Any) -> Customer:
    return Customer.model_validate(record(cid, **extra))


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path
