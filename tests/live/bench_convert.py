"""Cost of the live callback's conversion, per advertisement: `python tests/live/bench_convert.py`.

(Kept beside the tests because benchmarks/ belongs to another owner; not collected by pytest.)
"""

from __future__ import annotations

import time

from bleak.backends.device import BLEDevice

from gateway.adverts import EDDYSTONE_UUID, encode_ibeacon
from gateway.sources.bleak_convert import advert_from_bleak, advertisement_data

N = 200_000


def main() -> None:
    mfr = {int(k): bytes.fromhex(v) for k, v in encode_ibeacon("f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1, 7).items()}
    device = BLEDevice("C0:11:22:33:44:55", None, None)
    data = advertisement_data(rssi=-60, mfr=mfr, svc_data={EDDYSTONE_UUID: bytes(20)}, svc_uuids=[EDDYSTONE_UUID])
    start = time.perf_counter()
    for _ in range(N):
        advert_from_bleak(device, data, 1.0, "rx")
    elapsed = time.perf_counter() - start
    print(f"advert_from_bleak: {elapsed / N * 1e6:.2f} us per advertisement ({N} runs)")


if __name__ == "__main__":
    main()
