"""Ground truth (SPEC section 5): JSON Lines of {device, zone, t_start, t_end} intervals."""

from __future__ import annotations

import bisect
import json
import math
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.adverts import ADDRESS_RE
from gateway.sources.recording import T_MAX_S

OUTSIDE = "outside"
RESERVED_ZONE = "unknown"  # gateway.zones.estimate.UNKNOWN: an estimate's answer, never a place


class TruthError(Exception):
    """The truth file cannot be used; the message names file and line."""


@dataclass(frozen=True, slots=True)
class TruthInterval:
    device: str
    zone: str
    t_start: float
    t_end: float
    # where it was read, so that a problem found later (a zone spelt two ways) can be pointed at; 0 when made
    line: int = field(default=0, compare=False)

    def to_json(self) -> dict[str, object]:
        return {"device": self.device, "zone": self.zone, "t_start": self.t_start, "t_end": self.t_end}


def never_recognised_note(truth: object, never: list[str], devices: int, left_out: str) -> str:
    """The evaluations' warning for truth devices no advertisement was recognised as (`never`, sorted, of `devices`
    with truth in the recording): they have no sample, and the scores say nothing of them. `left_out` says where
    they are missing and what to check."""
    shown = ", ".join(never[:3]) + (f" (and {len(never) - 3} more)" if len(never) > 3 else "")
    return (
        f"{truth}: {len(never)} of the {devices} devices with truth in the recording were never recognised: "
        f"{shown}; they are left out of every score{left_out}"
    )


def read_truth(path: str | os.PathLike[str]) -> list[TruthInterval]:
    """All intervals; a bad line is an error naming it (truth is small and must be right to score against)."""
    p = Path(path)
    out: list[TruthInterval] = []
    try:
        lines = p.read_bytes().splitlines()
    except FileNotFoundError:
        raise TruthError(f"{p}: no such truth file") from None
    except OSError as e:
        raise TruthError(f"{p}: cannot read: {e.strerror or e}") from None
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            # a byte-order mark (spreadsheet exports on Windows) opens the file, as the scan reader accepts
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            raise TruthError(f"{p}:{n}: not UTF-8 text") from None
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # as the recording reader: "[[[..." nests too deep for the parser
            raise TruthError(f"{p}:{n}: not valid JSON") from None
        if not isinstance(obj, dict):
            raise TruthError(f"{p}:{n}: not a JSON object")
        for key in ("device", "zone"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise TruthError(f"{p}:{n}: field '{key}' missing or not a string")
        # "Café" typed on a Mac (e + combining accent) is the same zone as on Windows; so is a tag's address in
        # any case (the matcher reads it case-blind, and two spellings in one file were two devices)
        device = obj["device"].upper() if ADDRESS_RE.fullmatch(obj["device"]) else obj["device"]
        zone = unicodedata.normalize("NFC", obj["zone"])
        if zone.lower() == RESERVED_ZONE:
            raise TruthError(
                f"{p}:{n}: zone {zone!r} is what the gateway reports when it is not sure; a truth interval "
                "names the zone the device was in (or 'outside')"
            )
        if zone.lower() == OUTSIDE and zone != OUTSIDE:
            raise TruthError(f"{p}:{n}: zone {zone!r}: the street is written 'outside', in lower case (SPEC section 5)")
        for key in ("t_start", "t_end"):
            if type(obj.get(key)) not in (int, float) or not math.isfinite(obj[key]):
                raise TruthError(f"{p}:{n}: field '{key}' missing or not a number")
            if not 0.0 <= obj[key] <= T_MAX_S:  # the recordings' own bound: 1e308 is no time
                raise TruthError(f"{p}:{n}: field '{key}' is {obj[key]}, not a time between 1970 and 2100")
        if obj["t_end"] < obj["t_start"]:
            raise TruthError(f"{p}:{n}: t_end is before t_start")
        out.append(TruthInterval(device, zone, float(obj["t_start"]), float(obj["t_end"]), line=n))
    return out


def write_truth(path: str | os.PathLike[str], intervals: Iterable[TruthInterval], *, append: bool = False) -> None:
    with Path(path).open("a" if append else "w", encoding="utf-8") as f:
        for iv in intervals:
            f.write(json.dumps(iv.to_json(), separators=(",", ":")) + "\n")


class TruthIndex:
    """Answers 'which zone was device D in at time t' in O(log n); None when no interval covers t."""

    def __init__(self, intervals: Iterable[TruthInterval]) -> None:
        per: dict[str, list[TruthInterval]] = {}
        for iv in intervals:
            per.setdefault(iv.device, []).append(iv)
        self._starts: dict[str, list[float]] = {}
        self._ivs: dict[str, list[TruthInterval]] = {}
        for dev, ivs in per.items():
            ivs.sort(key=lambda iv: iv.t_start)
            self._ivs[dev] = ivs
            self._starts[dev] = [iv.t_start for iv in ivs]

    @property
    def devices(self) -> list[str]:
        return list(self._ivs)

    def intervals(self, device: str) -> list[TruthInterval]:
        return self._ivs.get(device, [])

    def zone_at(self, device: str, t: float) -> str | None:
        starts = self._starts.get(device)
        if not starts:
            return None
        i = bisect.bisect_right(starts, t) - 1
        # intervals may touch or nest slightly; look back a few for one that covers t
        for j in range(i, max(i - 3, -1), -1):
            iv = self._ivs[device][j]
            if iv.t_start <= t <= iv.t_end:
                return iv.zone
        return None
