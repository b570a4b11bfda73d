"""Scan recordings (SPEC section 4): JSON Lines, optionally gzip, a header line then one advertisement a line.

The reader never stops on a bad line: it reports it with its line number, counts it and goes on, unless
`strict` is set. A truncated gzip stream ends the read with a reported problem, keeping what came before.
"""

from __future__ import annotations

import bisect
import gzip
import io
import json
import math
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from json.scanner import make_scanner
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from gateway.adverts import MAX_COMPANY_ID, NO_RSSI_DBM, Advert, company_key, service_key

FORMAT_NAME = "proximity-scans"
FORMAT_VERSION = 1
MAX_REPORTED_PROBLEMS = 20  # beyond this a flood of bad lines is only counted, so logs stay readable
RSSI_MIN_DBM = NO_RSSI_DBM  # BlueZ reports -127 for "no RSSI"
HCI_NO_RSSI = 127  # what HCI itself says for it; read as -127
RSSI_MAX_DBM = 20
# A t outside 1970..2100 is not a clock reading (1e308, Infinity, NaN, a negative number): taken as a time it
# would make every later line of its receiver "go backwards" and be skipped. Rejecting it costs one line.
T_MAX_S = 4_102_444_800.0  # 2100-01-01
# A receiver's line more than this ahead of its previous one is held until the receiver's next line: if that one
# goes back before it, the jump was a bad clock reading and is dropped (one line), not every line after it. A real
# gap (a receiver off for a while, a store closed overnight) costs nothing: its next line confirms it, or sooner a
# line of another receiver within this of it (clocks that agree), which also keeps the file's order.
JUMP_S = 600.0
# SPEC section 4 orders lines per receiver only: a tool may flush each receiver's buffer in turn, or a primary write
# a node's batch after its own later lines. A file whose first minute shows receivers more than IN_ORDER_S apart is
# merged by t through a buffer of MERGE_S of advertisement time (20 s batches in file order took a day's zone accuracy
# from 0.84 to 0.68); one in time order, or nearly (a primary's own node batches), is passed on as read.
IN_ORDER_S = 2.0
MERGE_S = 60.0
PROBE_MAX = 50_000  # lines the first look holds at most (a busy store's first minute can be more)
_BY_T = attrgetter("t")


class RecordingError(Exception):
    """A recording cannot be read at all (or a bad line in strict mode). The message names file and line."""


@dataclass
class Header:
    store_id: str | None = None
    receivers: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def zone_geometry(self) -> dict[str, Any] | None:
        """The optional header key `zones` (zone positions or polygons, as `calibrate fit` reads them), if a table."""
        zones = self.extra.get("zones")
        return zones if isinstance(zones, dict) else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
        if self.store_id is not None:
            out["store_id"] = self.store_id
        if self.receivers:
            out["receivers"] = self.receivers
        if self.source is not None:
            out["source"] = self.source
        out.update(self.extra)
        return out


@dataclass
class ReadStats:
    lines: int = 0
    adverts: int = 0
    malformed: int = 0
    out_of_order: int = 0
    late: int = 0  # lines that came long after later lines of other receivers: passed on as they are
    truncated: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.malformed + self.out_of_order


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


def not_a_file(path: Path, what: str) -> str:
    """Why `path`, which is not a regular file, cannot be read as one."""
    if path.is_dir():
        return f"a directory, not a {what}"
    if path.exists():
        # `--scans <(zcat day.jsonl.gz)`: the file is read more than once (its start is sniffed for gzip)
        return f"not a regular file (a pipe?): the {what} is read more than once; write it to a file first"
    return f"no such {what}"


def _open_binary(path: Path) -> IO[bytes]:
    # Sniff the magic number rather than trust the suffix: people rename files.
    if _is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


# Keys seen already in SPEC form, per map: a store hears a few dozen companies and services, so after the first
# lines each key costs one set lookup (checking it every time made the reader a quarter slower). Bounded, so a
# file of made-up keys cannot grow them.
_KNOWN_MFR_KEYS: set[str] = set()
_KNOWN_SVC_KEYS: set[str] = set()
MAX_KNOWN_KEYS = 1024
# Payloads seen already and found to be hex: a device repeats its frame many times a second, so most lines cost one
# set lookup instead of a check (a regular expression on every value took a fifth of the reader's time). Bounded.
_KNOWN_HEX: set[str] = set()
MAX_KNOWN_HEX = 8192


def _is_hex(v: str) -> bool:
    if not _HEX(v):
        return False
    if len(_KNOWN_HEX) >= MAX_KNOWN_HEX:
        _KNOWN_HEX.clear()
    _KNOWN_HEX.add(v)
    return True


_HEX = re.compile("[0-9a-fA-F]*").fullmatch
_MFR_KEY_EXPECTED = f"a company identifier in decimal (0..{MAX_COMPANY_ID})"
_SVC_KEY_EXPECTED = "a service UUID"


def _hex_map(
    value: Any, what: str, key_of: Callable[[str], str | None], expected: str, known: set[str]
) -> dict[str, str] | str:
    """Checks a {key: hex} map cheaply; returns it with its keys in SPEC form (`key_of`), or a problem."""
    if not isinstance(value, dict):
        return f"field '{what}' is not an object"
    renamed = False
    for k, v in value.items():
        if not isinstance(v, str) or len(v) % 2 or (v not in _KNOWN_HEX and not _is_hex(v)):
            # "0x0215..." or base64 would match nobody, and would stop whatever decodes it later
            return f"{what}[{k}] is not a hex string"
        if k in known:
            continue
        canonical = key_of(k)
        if canonical is None:
            return f"{what} key {k!r} is not {expected}"
        if canonical != k:
            renamed = True
        elif len(known) < MAX_KNOWN_KEYS:
            known.add(k)
    if not renamed:  # nearly every line: already in SPEC form, nothing to copy
        return value
    # "076" or an upper-case UUID would miss the parsers' lookups and the device would go unrecognised
    out: dict[str, str] = {}
    for k, v in value.items():
        canonical = key_of(k)
        assert canonical is not None
        if canonical in out:
            return f"{what} keys name {canonical!r} twice"
        out[canonical] = v
    return out


def advert_from_json(obj: Any) -> Advert | str:
    """An Advert from one decoded line, or a short description of what is wrong with it."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    t = obj.get("t")
    if type(t) is not float and type(t) is not int:
        if "format" in obj and "t" not in obj:  # recordings concatenated: the next one's header
            return "a second header line (recordings joined end to end?); skipped"
        return "field 't' missing or not a number"
    if not 0.0 <= t <= T_MAX_S:  # also false for NaN
        shown = str(t) if len(str(t)) <= 24 else f"{str(t)[:12]}... ({len(str(t))} digits)"  # 10**400: one line
        return f"field 't' is {shown}, not a time between 1970 and 2100 (seconds since the Unix epoch)"
    rx = obj.get("rx")
    if type(rx) is not str or not rx:
        return "field 'rx' missing or not a string"
    addr = obj.get("addr")
    if type(addr) is not str:
        return "field 'addr' missing or not a string"
    rssi = obj.get("rssi")
    if type(rssi) is not int:
        rssi = _integral(rssi)  # -67.0: another writer's way of saying -67
    elif rssi == HCI_NO_RSSI:
        rssi = NO_RSSI_DBM
    if rssi is None or not RSSI_MIN_DBM <= rssi <= RSSI_MAX_DBM:
        return f"field 'rssi' missing or not an integer in {RSSI_MIN_DBM}..{RSSI_MAX_DBM}"
    tx = obj.get("tx_power")
    if tx is not None and type(tx) is not int:
        tx = _integral(tx)
        if tx is None:
            return "field 'tx_power' is not an integer"
    name = obj.get("name")
    if name is not None and type(name) is not str:
        return "field 'name' is not a string"
    mfr = obj.get("mfr")
    if mfr is None:
        mfr = {}
    elif type(mfr) is not dict or mfr:  # {}: nothing to check
        mfr = _hex_map(mfr, "mfr", company_key, _MFR_KEY_EXPECTED, _KNOWN_MFR_KEYS)
        if isinstance(mfr, str):
            return mfr
    svc = obj.get("svc_data")
    if svc is None:
        svc = {}
    elif type(svc) is not dict or svc:  # {}: nothing to check
        svc = _hex_map(svc, "svc_data", service_key, _SVC_KEY_EXPECTED, _KNOWN_SVC_KEYS)
        if isinstance(svc, str):
            return svc
    uuids = obj.get("svc_uuids")
    if uuids is None:
        uuids = []
    elif not isinstance(uuids, list):
        return "field 'svc_uuids' is not a list"
    return Advert(float(t), rx, addr, rssi, tx, name, mfr, svc, uuids)


def _integral(v: Any) -> int | None:
    """A float that is a whole number, as an int (JSON writers that have no integers write -67.0); else None."""
    if type(v) is float and v.is_integer():
        return int(v)
    return None


def _version(v: Any) -> int | None:
    """The header's format version, or None if it is none (missing, text, 0, 1.5, true)."""
    if type(v) is float:  # 1.0: a JSON writer's way of saying 1
        v = _integral(v)
    return v if type(v) is int and v >= 1 else None


class RecordingReader:
    """Iterates the advertisements of a recording. `header` is available once the reader is opened."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        strict: bool = False,
        on_problem: Callable[[str], None] | None = None,
        sort_all: bool = False,
    ) -> None:
        """`sort_all`: for a caller that holds the whole recording anyway: every line sorted by t, so receivers
        written one after another come out merged too (MERGE_S bounds what a streaming read can merge)."""
        self.path = Path(path)
        self.strict = strict
        self.sort_all = sort_all
        # how far behind the newest line _file_order lets a line go before counting it late: set once __iter__ has
        # seen the file in time order (infinite while it looks, and when it merges)
        self._late_after = math.inf
        self._late_by_rx: dict[str, float] = {}  # receiver -> the most its late lines lagged
        self.on_problem = on_problem
        self.stats = ReadStats()
        self.header = Header()
        self._stream: IO[bytes] | None = None
        self._first: bytes | None = None

    def __enter__(self) -> RecordingReader:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        if self._stream is not None:  # opened already (replay opens first to name a bad path before connecting)
            return
        if not self.path.is_file():
            raise RecordingError(f"{self.path}: {not_a_file(self.path, 'recording')}")
        try:
            self._stream = _open_binary(self.path)
            first = self._stream.readline()
        except (OSError, EOFError) as e:
            raise RecordingError(f"{self.path}: cannot read: {e}") from None
        self.stats.lines = 1
        self._parse_header(first)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _problem(self, line_no: int, what: str, *, fatal_if_strict: bool = True) -> None:
        msg = f"{self.path}:{line_no}: {what}"
        if self.strict and fatal_if_strict:
            raise RecordingError(msg)
        if len(self.stats.problems) < MAX_REPORTED_PROBLEMS:
            self._report(msg)

    def _report(self, msg: str) -> None:
        self.stats.problems.append(msg)
        if self.on_problem is not None:
            self.on_problem(msg)

    def _parse_header(self, first: bytes) -> None:
        first = first.removeprefix(b"\xef\xbb\xbf")  # a byte order mark alone is an empty file, not a bad header
        if not first.strip():
            if first == b"":
                return  # an empty file is an empty recording
            self.stats.malformed += 1
            self._problem(1, "empty first line: expected the header")
            return
        try:
            obj = json.loads(first)
        except (ValueError, RecursionError):
            self.stats.malformed += 1
            self._problem(1, "header is not valid JSON")
            return
        if isinstance(obj, dict) and obj.get("format") == FORMAT_NAME:
            # SPEC section 4: only a malformed line may stop a replay, and only with --strict
            version = _version(obj.get("version"))
            if version is None:
                self._problem(
                    1,
                    f"header field 'version' is {json.dumps(obj.get('version'))}, not a format version (a whole number "
                    f"from 1); reading the file as version {FORMAT_VERSION}",
                )
            elif version > FORMAT_VERSION:
                self._problem(
                    1,
                    f"recording format version {version} is newer than this gateway reads ({FORMAT_VERSION}): "
                    "reading the lines it understands, each other line is reported and skipped",
                    fatal_if_strict=False,
                )
            receivers = obj.get("receivers") or {}
            if not isinstance(receivers, dict):
                self._problem(1, "header field 'receivers' is not an object; ignored")
                receivers = {}
            store = obj.get("store_id")
            source = obj.get("source")
            extra = {k: v for k, v in obj.items() if k not in {"format", "version", "store_id", "receivers", "source"}}
            self.header = Header(
                store if isinstance(store, str) else None,
                receivers,
                source if isinstance(source, str) else None,
                extra,
            )
            return
        if isinstance(obj, dict) and "format" in obj and "t" not in obj:
            # another program's header: named once, as what it is, not a second time as a bad advertisement
            self._problem(1, f"header format {obj['format']!r} is not {FORMAT_NAME!r}; reading the lines after it")
            return
        # No header: keep the line, it may be a perfectly good advertisement.
        self._problem(1, "no 'proximity-scans' header; reading the file as advertisements")
        self._first = first

    def __iter__(self) -> Iterator[Advert]:
        """The advertisements in t order: each receiver's in file order, receivers merged (MERGE_S)."""
        lines = self._file_order()
        if self.sort_all:
            yield from sorted(lines, key=_BY_T)  # stable: equal times keep the file's order
            return
        # The start of the file says how it was written. Nearly every recording is in time order and is passed on as
        # read, at no cost; one whose receivers come in batches is merged through a buffer of MERGE_S.
        probe: list[Advert] = []
        lag, newest = 0.0, -math.inf
        for adv in lines:
            probe.append(adv)
            t = adv.t
            if t < newest:
                lag = max(lag, newest - t)
            else:
                newest = t
            if newest - probe[0].t >= MERGE_S or len(probe) >= PROBE_MAX:
                break
        probe.sort(key=_BY_T)
        if lag <= IN_ORDER_S:
            # the rest as read: _file_order itself counts a line later than this (one more Python frame per line
            # here cost a tenth of the reader's time)
            self._late_after = IN_ORDER_S
            yield from probe
            # let the first look go: this frame lives as long as the replay, and held a busy store's first minute
            # (about 8 MB of the busy hour's 9 MB traced in bench_pipeline's soak) until the end
            probe.clear()
            yield from lines
        else:
            buf, released = probe, -math.inf
            flush_at = newest + MERGE_S / 2
            for adv in lines:
                t = adv.t
                if t < released:
                    self._late(adv, released)
                    yield adv
                    continue
                buf.append(adv)
                if t > newest:
                    newest = t
                    if newest >= flush_at:  # timsort on a few sorted runs is close to linear
                        buf.sort(key=_BY_T)
                        cut = bisect.bisect_right(buf, newest - MERGE_S, key=_BY_T)
                        if cut:
                            released = buf[cut - 1].t
                            yield from buf[:cut]
                            del buf[:cut]
                        flush_at = newest + MERGE_S / 2
            buf.sort(key=_BY_T)
            yield from buf
        if self._late_by_rx:
            worst = ", ".join(f"{rx} by up to {behind:.0f} s" for rx, behind in sorted(self._late_by_rx.items()))
            self._report(
                f"{self.path}: {self.stats.late} lines came long after later lines of other receivers ({worst}) and "
                "were used out of time order, which misplaces those devices (the reader merges receivers written in "
                f"batches of up to {MERGE_S:.0f} s): sort the file's lines by t"
            )

    def _late(self, adv: Advert, released: float) -> None:
        """A line behind what has gone on (a whole receiver after another: per-receiver files joined). Holding the
        file in memory is not an option on a Pi: it is passed on, counted, and named once at the end."""
        self.stats.late += 1
        late = self._late_by_rx
        late[adv.rx] = max(late.get(adv.rx, 0.0), released - adv.t)

    def _file_order(self) -> Iterator[Advert]:
        if self._stream is None:
            self.open()
        assert self._stream is not None
        stream = self._stream
        stats = self.stats
        if self._first is not None:  # a headerless file: its first line is data
            first, self._first = self._first, None
            adv = self._advert(1, first)
            if adv is not None:
                yield adv
        line_no = stats.lines
        # The hot loop, inlined: a generator per line or json.loads' encoding sniffing on bytes cost
        # more than a third of the reading time.
        decoder = json.JSONDecoder()
        # the scanner decode() itself runs; typeshed types its duck-typed context as a scanner
        decode, scan = decoder.decode, make_scanner(decoder)  # type: ignore[arg-type]
        last_t: dict[str, float] = {}
        newest = -math.inf  # the newest line yet, for lines later than __iter__ lets pass (_late_after)
        held: dict[str, tuple[int, Advert]] = {}  # receiver -> a line that jumped far ahead, and its number
        try:
            for raw in stream:
                line_no += 1
                try:
                    text = raw.decode("utf-8")
                    # decode() is scan_once between two whitespace regex matches (~1 us a line). A line that
                    # starts with its value and ends with it or a newline needs neither; any other line
                    # (leading blanks, CRLF, extra data, not JSON) goes through decode() for its exact answer.
                    try:
                        obj, end = scan(text, 0)
                    except StopIteration:
                        end = -1
                    if end != len(text) and (end < 0 or text[end:] != "\n"):
                        obj = decode(text)
                except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; "[[[..." nests too deep
                    if not raw.strip():
                        continue
                    stats.malformed += 1
                    self._problem(line_no, "not valid JSON")
                    continue
                parsed = advert_from_json(obj)
                if isinstance(parsed, str):
                    stats.malformed += 1
                    self._problem(line_no, parsed)
                    continue
                rx, t = parsed.rx, parsed.t
                if held:
                    # another receiver's clock agrees with a held jump: it was a real gap, and its line goes out
                    # where the file has it. (Clocks that disagree leave it to the receiver's own next line.)
                    confirmed = [
                        held.pop(o)[1] for o in [o for o, (_, j) in held.items() if o != rx and abs(t - j.t) <= JUMP_S]
                    ]
                    prev = last_t.get(rx)
                    if rx in held:
                        # the receiver's next line decides whether its held jump was real or one bad clock reading
                        held_no, jumped = held.pop(rx)
                        if t >= jumped.t:
                            confirmed.append(jumped)
                        else:
                            stats.out_of_order += 1
                            self._problem(
                                held_no,
                                f"t jumps {jumped.t - (prev or 0.0):.0f} s ahead of receiver {rx!r}'s next line and "
                                "back again; skipped",
                            )
                    for jumped in sorted(confirmed, key=_BY_T):  # released together: in time order
                        last_t[jumped.rx] = jumped.t
                        stats.adverts += 1
                        newest = max(newest, jumped.t)
                        yield jumped
                prev = last_t.get(rx)
                if prev is not None and t < prev:
                    stats.out_of_order += 1
                    self._problem(line_no, f"t goes backwards for receiver {rx!r} ({t} < {prev}); skipped")
                    continue
                if prev is not None and t - prev > JUMP_S:
                    held[rx] = (line_no, parsed)
                    continue
                last_t[rx] = t
                stats.adverts += 1
                if t >= newest:
                    newest = t
                elif newest - t > self._late_after:  # read only for a line behind the newest: rare
                    self._late(parsed, newest)
                yield parsed
        except (EOFError, OSError, zlib.error) as e:
            stats.truncated = True
            self._problem(line_no + 1, f"recording ends early ({e.__class__.__name__}); kept what came before")
        finally:
            stats.lines = line_no
        for _, jumped in held.values():  # nothing came after them to contradict them
            stats.adverts += 1
            yield jumped
        self._summarise()

    def _summarise(self) -> None:
        """After a flood of bad lines, one line with the totals: the listed ones stop at MAX_REPORTED_PROBLEMS."""
        stats = self.stats
        if stats.skipped <= MAX_REPORTED_PROBLEMS:
            return
        why = []
        if stats.malformed:
            why.append(f"{stats.malformed} malformed")
        if stats.out_of_order:
            why.append(f"{stats.out_of_order} out of order: is the file sorted by t for each receiver?")
        msg = (
            f"{self.path}: {stats.skipped} of {stats.lines} lines skipped ({'; '.join(why)}); "
            f"the first {MAX_REPORTED_PROBLEMS} are listed above"
        )
        self._report(msg)

    def _advert(self, line_no: int, raw: bytes) -> Advert | None:
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            self.stats.malformed += 1
            self._problem(line_no, "not valid JSON")
            return None
        adv = advert_from_json(obj)
        if isinstance(adv, str):
            self.stats.malformed += 1
            self._problem(line_no, adv)
            return None
        self.stats.adverts += 1
        return adv


def read_recording(path: str | os.PathLike[str], *, strict: bool = False) -> tuple[Header, list[Advert], ReadStats]:
    """Convenience for small recordings (tests, calibration walks): everything in memory."""
    with RecordingReader(path, strict=strict) as reader:
        adverts = list(reader)
        return reader.header, adverts, reader.stats


class RecordingWriter:
    """Writes a recording; gzip when the file name ends in .gz. Streams: memory does not grow with length.

    With `append`, an existing recording is continued (a calibration walk is recorded zone by zone, one
    command each, into one file): the header is written only when the file is new.
    """

    def __init__(self, path: str | os.PathLike[str], header: Header | None = None, *, append: bool = False) -> None:
        self.path = Path(path)
        self.header = header or Header()
        self.append = append
        self._f: IO[str] | None = None
        self._raw: IO[bytes] | None = None
        self.count = 0

    def __enter__(self) -> RecordingWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.append or not self.path.exists() or self.path.stat().st_size == 0
        torn = False
        if not new:
            torn = self._check_continuable()
        mode = "ab" if self.append else "wb"
        # A recording holds the addresses of the devices it heard: readable by its owner only, as the state is.
        # Created here with that mode (before open() truncates or appends), so it never exists with more.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)  # O_CREAT's mode applies to a new file only: an existing 0644 one stayed so
        finally:
            os.close(fd)
        if self.path.suffix == ".gz":
            # No name and mtime 0 in the gzip header: the same content gives byte-identical files.
            # Appending adds a gzip member; readers see one stream.
            self._raw = self.path.open(mode)
            gz = gzip.GzipFile(filename="", fileobj=self._raw, mode="wb", mtime=0, compresslevel=6)
            self._f = io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
        else:
            self._f = self.path.open(mode[0], encoding="utf-8", newline="\n")
        if new:
            self._f.write(json.dumps(self.header.to_json(), separators=(",", ":")) + "\n")
        elif torn:
            self._f.write("\n")  # a run killed mid-line left half a line: the next one starts on its own
        return self

    def _check_continuable(self) -> bool:
        """Before appending: the file must be the same kind (plain or gzip) and from the same store. Returns
        whether its last line is unfinished."""
        gz = self.path.suffix == ".gz"
        if _is_gzip(self.path) != gz:
            kind = "gzip-compressed" if not gz else "not gzip-compressed"
            raise RecordingError(f"{self.path}: is {kind} although its name says otherwise; not appended to")
        with _open_binary(self.path) as f:
            first = f.readline()
        try:
            existing = json.loads(first)
        except (ValueError, RecursionError):
            existing = None
        store = existing.get("store_id") if isinstance(existing, dict) else None
        if store is not None and self.header.store_id is not None and store != self.header.store_id:
            raise RecordingError(
                f"{self.path}: a recording of store {store!r}; this is store {self.header.store_id!r}: not appended "
                "to (use another --out directory)"
            )
        if gz:
            return False  # a new gzip member starts cleanly; a torn member is reported by the reader
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"

    def write(self, adv: Advert) -> None:
        assert self._f is not None, "use RecordingWriter as a context manager"
        self._f.write(json.dumps(adv.to_json(), separators=(",", ":")) + "\n")
        self.count += 1

    def write_text(self, lines: str) -> None:
        """Pre-rendered lines (each a SPEC section 4 object ending in a newline), for fast generators."""
        assert self._f is not None, "use RecordingWriter as a context manager"
        self._f.write(lines)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
