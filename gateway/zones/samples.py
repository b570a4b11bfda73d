"""Which advertisements belong to which truth device, and the labelled samples of a walk (SPEC section 5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.adverts import Advert, ibeacon_key, ibeacon_key_from_mfr
from gateway.truth import TruthInterval

IBEACON_PREFIX = "ibeacon:"


class DeviceMatcher:
    """Maps an advert to a truth device: by address (case-insensitive) or by an `ibeacon:<uuid>:<major>:<minor>` id."""

    def __init__(self, devices: Iterable[str]) -> None:
        self.by_addr: dict[str, str] = {}
        self.by_ibeacon: dict[str, str] = {}
        for d in devices:
            if d.lower().startswith(IBEACON_PREFIX):
                parts = d[len(IBEACON_PREFIX) :].split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    self.by_ibeacon[ibeacon_key(parts[0], int(parts[1]), int(parts[2]))] = d
                    continue
            self.by_addr[d.lower()] = d

    def device_of(self, adv: Advert) -> str | None:
        d = self.by_addr.get(adv.addr.lower())
        if d is not None or not self.by_ibeacon:
            return d
        key = ibeacon_key_from_mfr(adv.mfr)
        return None if key is None else self.by_ibeacon.get(key)


@dataclass(frozen=True, slots=True)
class Reading:
    device: str
    rx: str
    rssi: int
    t: float


def readings(adverts: Iterable[Advert], truth: list[TruthInterval]) -> Iterator[Reading]:
    """The adverts of truth devices, in the order given (the order the live pipeline would see them)."""
    matcher = DeviceMatcher({iv.device for iv in truth})
    for adv in adverts:
        d = matcher.device_of(adv)
        if d is not None:
            yield Reading(d, adv.rx, adv.rssi, adv.t)
