"""Fixtures shared by the zone tests: one synthetic store, its calibration walk and a fitted model (fit once); and a
second store fitted with its zone polygons, for the grid method."""

from __future__ import annotations

import pytest

from gateway.adverts import Advert
from gateway.truth import TruthInterval
from gateway.zones.calibrate import FitResult, fit
from tests.zones.synth import Store, calibration_walk, make_store


@pytest.fixture(scope="session")
def store() -> Store:
    return make_store(7, shadow_db=5.0)


@pytest.fixture(scope="session")
def walk_data(store: Store) -> tuple[list[Advert], list[TruthInterval]]:
    return calibration_walk(store, 7)


@pytest.fixture(scope="session")
def fitted(store: Store, walk_data: tuple[list[Advert], list[TruthInterval]]) -> FitResult:
    adverts, truth = walk_data
    return fit(adverts, truth, store.header_receivers(), zone_positions=store.zone_centres())


@pytest.fixture(scope="session")
def geo_store() -> Store:
    return make_store(11, shadow_db=4.0)


@pytest.fixture(scope="session")
def geo_fit(geo_store: Store) -> FitResult:
    adverts, truth = calibration_walk(geo_store, 11)
    return fit(adverts, truth, geo_store.header_receivers(), zone_positions=geo_store.zone_polygons())
