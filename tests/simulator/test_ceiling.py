"""The layout check (`proximity-sim ceiling`): it must tell a layout whose zones the receivers can separate from one
whose zones mirror each other, and its smoother must be the textbook one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.zones.grid import blur_matrix
from simulator.ceiling import Ceiling, ceiling_of_day, forward_backward
from simulator.cli import app
from simulator.store import load_store

# a hall by the door in the middle, a shop zone either side of it
CORRIDOR = """store_id = "corridor-1"
name = "Corridor"
width = 24.0
height = 6.0
entrance = [12.0, 0.0]

[[zone]]
name = "hall"
polygon = [[10, 0], [14, 0], [14, 6], [10, 6]]

[[zone]]
name = "west"
polygon = [[0, 0], [10, 0], [10, 6], [0, 6]]

[[zone]]
name = "east"
polygon = [[14, 0], [24, 0], [24, 6], [14, 6]]
"""


def _receiver(rx_id: str, x: float) -> str:
    return f'\n[[receiver]]\nid = "{rx_id}"\nx = {x}\ny = 4.0\n'


@pytest.fixture
def one_at_each_end(tmp_path: Path) -> Path:
    path = tmp_path / "ends.toml"
    path.write_text(CORRIDOR + _receiver("rx-w", 3.0) + _receiver("rx-e", 21.0))
    return path


@pytest.fixture
def one_in_the_middle(tmp_path: Path) -> Path:
    """West and east are mirror images around the only receiver: no estimator can tell them apart by RSSI."""
    path = tmp_path / "middle.toml"
    path.write_text(CORRIDOR + _receiver("rx-mid", 12.0))
    return path


@pytest.mark.parametrize("walled", [False, True], ids=["open", "walled"])
def test_forward_backward_is_the_textbook_smoother(walled: bool) -> None:
    rng = np.random.default_rng(4)
    ny, nx, steps = 3, 4, 7
    allowed = np.ones(ny * nx, dtype=bool)
    if walled:
        allowed[[1, 5, 6]] = False  # cells nobody can be in: no mass may flow into them
    loglik = rng.normal(0, 2, (steps, ny * nx))
    fwd, post = forward_backward(loglik, ny, nx, sigma_m=0.8, allowed=allowed)
    # dense reference: move (iy, ix) -> (jy, jx) = ky[iy, jy] * kx[ix, jx], kept to the allowed cells and
    # renormalised per source cell; uniform start over the allowed cells
    blur = np.kron(blur_matrix(np.arange(ny, dtype=float), 0.8), blur_matrix(np.arange(nx, dtype=float), 0.8)).T
    trans = blur * allowed[None, :]
    trans /= trans.sum(axis=1, keepdims=True)
    lik = np.exp(loglik) * allowed
    alpha = np.empty_like(lik)
    a = allowed / allowed.sum() * lik[0]
    alpha[0] = a / a.sum()
    for s in range(1, steps):
        a = (alpha[s - 1] @ trans) * lik[s]
        alpha[s] = a / a.sum()
    beta = np.ones(ny * nx)
    ref = np.empty_like(lik)
    ref[-1] = alpha[-1]
    for s in range(steps - 2, -1, -1):
        beta = trans @ (lik[s + 1] * beta)
        beta /= beta.sum()
        ref[s] = alpha[s] * beta / (alpha[s] * beta).sum()
    np.testing.assert_allclose(fwd, alpha, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(post, ref, rtol=1e-9, atol=1e-15)
    assert not fwd[:, ~allowed].any() and not post[:, ~allowed].any()


def _west_and_east(c: Ceiling) -> float:
    zones = c.per_zone()
    return (zones["west"].correct + zones["east"].correct) / (zones["west"].samples + zones["east"].samples)


def test_a_receiver_in_each_zone_separates_them_and_a_shared_one_cannot(
    one_at_each_end: Path, one_in_the_middle: Path
) -> None:
    ends = ceiling_of_day(load_store(one_at_each_end), seed=1, shoppers=6, duration_s=600)
    middle = ceiling_of_day(load_store(one_in_the_middle), seed=1, shoppers=6, duration_s=600)
    assert _west_and_east(ends) > 0.75
    assert _west_and_east(middle) < _west_and_east(ends) - 0.3
    # the same people on the same day: the two layouts are scored on the same visits
    assert ends.per_zone()["west"].samples > 300 and ends.per_zone()["east"].samples > 300


def test_cli_names_the_zones_the_layout_cannot_separate(one_in_the_middle: Path) -> None:
    args = ["ceiling", "--store", str(one_in_the_middle), "--shoppers", "6", "--duration", "600"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    worst = min(summary["per_zone"], key=lambda z: summary["per_zone"][z]["accuracy"])
    assert worst in summary["weak_zones"]
    assert all(summary["per_zone"][z]["accuracy"] < 0.7 for z in summary["weak_zones"])
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0
    assert "Hard to tell apart on this layout" in table.stdout and worst in table.stdout.split("Hard to tell")[1]


def test_cli_says_which_zones_a_short_day_did_not_score(one_at_each_end: Path) -> None:
    """A zone nobody visited has no row; a planner must not read its absence as 'fine'."""
    args = ["ceiling", "--store", str(one_at_each_end), "--shoppers", "1", "--duration", "60"]
    summary = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert summary["unscored_zones"] and set(summary["unscored_zones"]).isdisjoint(summary["per_zone"])
    assert set(summary["unscored_zones"]) | set(summary["per_zone"]) >= {"hall", "west", "east"}
    table = CliRunner().invoke(app, args)
    assert "Not enough to go by: no shopper was in" in table.stdout
    assert table.stderr == "scoring day 1 of 1 (seed 1) ...\n"  # not a terminal: a line a day, not a minute of silence


def test_cli_bad_store_is_one_line_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CORRIDOR)  # no receiver
    result = CliRunner().invoke(app, ["ceiling", "--store", str(bad)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0]


def test_cli_scores_the_layout_under_another_radio(one_at_each_end: Path) -> None:
    """--shadowing-db/--body-loss-db: the same layout and people under less noise (how the issue words it, or
    none): the oracle's figure rises with less noise, and the JSON says which radio it was scored under."""
    args = ["ceiling", "--store", str(one_at_each_end), "--shoppers", "6", "--duration", "600", "--json"]
    default = json.loads(CliRunner().invoke(app, args).stdout)
    quiet = json.loads(CliRunner().invoke(app, [*args, "--shadowing-db", "0", "--body-loss-db", "0"]).stdout)
    assert default["radio"] == {"shadowing_db": 4.0, "body_loss_db": 9.0, "device_offset_db": 3.0}
    assert quiet["radio"] == {"shadowing_db": 0.0, "body_loss_db": 0.0, "device_offset_db": 3.0}
    assert quiet["accuracy"] > default["accuracy"] + 0.02
    bad = CliRunner().invoke(app, [*args, "--shadowing-db", "-1"])
    assert bad.exit_code == 2 and "--shadowing-db" in bad.output
