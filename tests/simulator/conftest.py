"""Small simulated days shared by the simulator tests (generated once per session: they take a second each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.generate import GenerateResult, generate_day

KIOSK = Path(__file__).resolve().parents[2] / "simulator" / "stores" / "small-kiosk.toml"


@pytest.fixture(scope="session")
def small_day(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    return generate_day(tmp_path_factory.mktemp("day"), shoppers=8, duration_s=900, seed=11, progress=False)


@pytest.fixture(scope="session")
def kiosk_day(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    return generate_day(
        tmp_path_factory.mktemp("kiosk"), store=KIOSK, shoppers=6, duration_s=600, seed=5, progress=False, plot=False
    )
