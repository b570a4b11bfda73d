"""What ends up in the journal: one line per record, priorities, repeats folded."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.logs import OneLineFormatter, RateLimitFilter, setup_logging, stderr_is_journal, syslog_priority


def record(
    msg: str, *args: object, created: float = 1000.0, level: int = logging.WARNING, **extra: object
) -> logging.LogRecord:
    rec = logging.makeLogRecord(
        {"name": "gateway.test", "msg": msg, "args": args, "levelno": level, "levelname": logging.getLevelName(level)}
    )
    rec.created = created
    rec.__dict__.update(extra)
    return rec


def passed(f: RateLimitFilter, recs: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in recs if f.filter(r)]


def test_repeats_are_folded_and_counted() -> None:
    f = RateLimitFilter(interval_s=60)
    burst = [record("scanner start failed: %s", "not ready", created=1000 + i) for i in range(10)]
    assert passed(f, burst) == ["scanner start failed: not ready"]
    later = record("scanner start failed: %s", "not ready", created=1070)
    assert passed(f, [later]) == ["scanner start failed: not ready (repeated 9 times)"]
    # nothing held back since: the next one after the interval carries no count
    assert passed(f, [record("scanner start failed: %s", "not ready", created=1140)]) == [
        "scanner start failed: not ready"
    ]


def test_different_messages_are_limited_separately() -> None:
    f = RateLimitFilter(interval_s=60)
    out = passed(f, [record("a"), record("b"), record("a"), record("b", level=logging.ERROR)])
    assert out == ["a", "b", "b"]


def test_explicit_key_groups_messages_with_different_templates() -> None:
    f = RateLimitFilter(interval_s=60)
    out = passed(f, [record("x went away", log_key="k"), record("y went away", log_key="k")])
    assert out == ["x went away"]


def test_formatter_keeps_one_record_on_one_line() -> None:
    fmt = OneLineFormatter(timestamps=False)
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        rec = record("line one\nline two", adapter="hci0", note="two words")
        rec.exc_info = sys.exc_info()
    line = fmt.format(rec)
    assert "\n" not in line
    assert line.startswith("WARNING gateway.test: line one\\nline two")
    assert "adapter=hci0" in line and 'note="two words"' in line
    assert 'error="ValueError: bad\\nthing"' in line
    assert "Traceback" not in line


def test_debug_keeps_the_traceback() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        rec = record("failed")
        rec.exc_info = sys.exc_info()
    assert "Traceback" in OneLineFormatter(timestamps=False, debug=True).format(rec)


@pytest.mark.parametrize(
    ("level", "prio"),
    [(logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3), (logging.CRITICAL, 2)],
)
def test_journal_priorities(level: int, prio: int) -> None:
    assert syslog_priority(level) == prio
    assert OneLineFormatter(journal=True).format(record("m", level=level)).startswith(f"<{prio}>")


@pytest.fixture
def stream_file(tmp_path: Path) -> Iterator[io.TextIOWrapper]:
    with (tmp_path / "stderr").open("w+") as f:
        yield f


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_journal_is_detected_only_when_stderr_is_that_stream(stream_file: io.TextIOWrapper) -> None:
    st = os.fstat(stream_file.fileno())
    assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream_file)
    assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, stream_file)
    assert not stderr_is_journal({}, stream_file)


@pytest.mark.usefixtures("restore_root_logging")
def test_setup_under_journald_prefixes_priorities_and_limits_repeats(stream_file: io.TextIOWrapper) -> None:
    st = os.fstat(stream_file.fileno())
    setup_logging(stream=stream_file, environ={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    log = logging.getLogger("gateway.sources.live")
    for _ in range(5):
        log.error("scanner start failed: %s", "adapter gone")
    log.debug("not shown at INFO")
    stream_file.flush()
    stream_file.seek(0)
    lines = stream_file.read().splitlines()
    assert lines == ["<3>ERROR gateway.sources.live: scanner start failed: adapter gone"]


@pytest.mark.usefixtures("restore_root_logging")
def test_setup_outside_journald_has_timestamps(stream_file: io.TextIOWrapper) -> None:
    setup_logging(stream=stream_file, environ={})
    logging.getLogger("gateway").info("hello")
    stream_file.flush()
    stream_file.seek(0)
    (line,) = stream_file.read().splitlines()
    assert line.endswith("INFO gateway: hello")
    assert line[:4].isdigit() and "T" in line[:11]
