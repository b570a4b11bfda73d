"""Logging for the daemon and the CLI: one line per record on stderr, levels journald understands,
and repeats of the same message folded into "(repeated K times)" so a flapping adapter cannot flood
the journal of a Pi with a small SD card.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO, Any

DEFAULT_REPEAT_INTERVAL_S = 60.0
MAX_TRACKED_KEYS = 1024  # distinct message templates remembered; the oldest is forgotten beyond this
# syslog priorities (RFC 5424) by logging level, for journald's "<N>" line prefix
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
# attributes every LogRecord has; anything else came from `extra=` and is printed as key=value
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "log_key"}


def syslog_priority(levelno: int) -> int:
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


def stderr_is_journal(environ: Mapping[str, str] | None = None, stream: IO[str] | None = None) -> bool:
    """True when stderr is the journal's stream socket: JOURNAL_STREAM holds its "device:inode"."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM")
    if not value:
        return False
    target = stream if stream is not None else sys.stderr
    try:
        st = os.fstat(target.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return value == f"{st.st_dev}:{st.st_ino}"


def _quote(value: object) -> str:
    text = str(value)
    if text and all(c.isalnum() or c in "._:/-+" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class OneLineFormatter(logging.Formatter):
    """`LEVEL logger: message key=value ...`; newlines escaped so one record is one journal entry.

    Exceptions appear as `error=Type: message` unless `debug` asks for the traceback.
    """

    def __init__(self, *, journal: bool = False, timestamps: bool = True, debug: bool = False) -> None:
        super().__init__()
        self.journal = journal
        self.timestamps = timestamps and not journal  # journald stamps every line itself
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        parts: list[str] = []
        if self.timestamps:
            parts.append(self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}")
        parts.append(f"{record.levelname} {record.name}: {record.getMessage()}")
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                parts.append(f"{key}={_quote(value)}")
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            parts.append(f"error={_quote(f'{type(exc).__name__}: {exc}')}")
        line = " ".join(parts).replace("\n", "\\n")
        if self.debug and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if self.journal:
            line = f"<{syslog_priority(record.levelno)}>{line}"
        return line


def log_each(logger: logging.Logger, level: int, template: str, *args: object) -> None:
    """A line about one customer or one problem, which the repeat filter keys by what it says rather than by its
    template: a second revocation, or a second, different bad line, within the interval is not held back. The
    same line repeated still is."""
    line = template % args if args else template
    logger.log(level, "%s", line, extra={"log_key": line})


class RateLimitFilter(logging.Filter):
    """Lets the first record of a key through, then at most one per `interval_s`, counting what it held back.

    The key is the message template (`record.msg`) and level and logger, or `extra={"log_key": ...}`.
    Time is the record's own creation time, so tests can drive it.
    """

    def __init__(self, interval_s: float = DEFAULT_REPEAT_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._seen: OrderedDict[tuple[Any, ...], list[float]] = OrderedDict()  # key -> [last passed at, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, getattr(record, "log_key", None) or str(record.msg))
        entry = self._seen.get(key)
        if entry is None:
            self._seen[key] = [record.created, 0]
            if len(self._seen) > MAX_TRACKED_KEYS:
                self._seen.popitem(last=False)
            return True
        self._seen.move_to_end(key)
        if record.created - entry[0] < self.interval_s:
            entry[1] += 1
            return False
        held = int(entry[1])
        entry[0], entry[1] = record.created, 0
        if held:
            record.msg = f"{record.getMessage()} (repeated {held} times)"
            record.args = ()
        return True


def setup_logging(
    level: int | str = logging.INFO,
    *,
    debug: bool = False,
    stream: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
    repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S,
) -> logging.Handler:
    """Replaces the root logger's handlers with one line-per-record stderr handler; returns it.

    Under systemd (JOURNAL_STREAM matches stderr) lines carry `<N>` priorities and no timestamp.
    `debug` lowers the level to DEBUG and keeps tracebacks.
    """
    target = stream if stream is not None else sys.stderr
    journal = stderr_is_journal(environ, target)
    handler = logging.StreamHandler(target)
    handler.setFormatter(OneLineFormatter(journal=journal, debug=debug))
    handler.addFilter(RateLimitFilter(repeat_interval_s))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else level)
    # bleak and dbus_fast log every D-Bus hiccup at DEBUG/INFO; our own lines say what matters
    for noisy in ("bleak", "dbus_fast"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)
    return handler
