"""Whatever a person types into a config file, the loaders answer with a ConfigError naming the file,
never a traceback (issue 8: fuzz the config loader)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError, load_gateway_config
from gateway.setup import load_config_dir

EXAMPLE = Path(__file__).resolve().parent.parent / "config"

keys = st.sampled_from(
    [
        "store_id",
        "gateway_id",
        "state_dir",
        "timezone",
        "role",
        "customers_file",
        "mqtt",
        "url",
        "keepalive_s",
        "scanner",
        "mode",
        "history",
        "retention_days",
        "metrics",
        "port",
        "zones",
        "campaign",
        "id",
        "zone",
        "min_dwell_s",
        "segments",
        "cooldown_s",
        "caps",
        "presence",
        "x",
    ]
)
scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=12).map(lambda s: s.replace("\\", "").replace('"', "")),
)


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\n", " ") + '"'
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return repr(v)


lines = st.lists(
    st.one_of(
        st.tuples(keys, scalars).map(lambda kv: f"{kv[0]} = {toml_value(kv[1])}"),
        keys.map(lambda k: f"[{k}]"),
        keys.map(lambda k: f"[[{k}]]"),
        st.text(max_size=20),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gateway=lines, campaigns=lines, zones=lines)
def test_any_file_content_gives_a_config_error_or_a_config(
    gateway: list[str], campaigns: list[str], zones: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "config"
        shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("state"))
        (d / "gateway.toml").write_text("\n".join(gateway))
        (d / "campaigns.toml").write_text("\n".join(campaigns))
        if zones:
            (d / "zones.toml").write_text("\n".join(zones))
        try:
            load_gateway_config(d, environ={})
        except ConfigError as e:
            assert all(str(d) in p for p in e.problems), e.problems
        try:
            load_config_dir(d)
        except ConfigError as e:
            assert e.problems and all(p.strip() and "\n" not in p for p in e.problems)


GATEWAY_KEYS = [
    "store_id",
    "gateway_id",
    "state_dir",
    "timezone",
    "role",
    "url",
    "keepalive_s",
    "topic_prefix",
    "reconnect_max_s",
    "mode",
    "silence_restart_s",
    "token_company_id",
    "enabled",
    "port",
]


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(GATEWAY_KEYS), value=scalars)
def test_one_wrong_value_in_a_good_file_is_named_by_its_field(key: str, value: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "config"
        shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("state"))
        text = (d / "gateway.toml").read_text()
        out = [
            f"{key} = {toml_value(value)}" if ln.split("=")[0].strip() == key and not ln.startswith("#") else ln
            for ln in text.splitlines()
        ]
        (d / "gateway.toml").write_text("\n".join(out) + "\n")
        try:
            load_gateway_config(d, environ={})
        except ConfigError as e:
            assert any(key in p or "invalid TOML" in p for p in e.problems), e.problems
