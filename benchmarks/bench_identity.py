"""Recognition figures: token table build/rollover time and memory, IRK resolution cost, match() per stranger.

    python benchmarks/bench_identity.py [--customers 100000] [--irks 10000] [--registry]

Times are CPU seconds of this process (time.process_time), so a busy machine does not inflate them; memory is
tracemalloc's count of Python allocations (the Resolver with its token table, secrets and per-customer maps).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from gateway.adverts import EDDYSTONE_UUID, Advert, encode_token_frame
from gateway.identity.irk import make_rpa
from gateway.identity.models import Customer
from gateway.identity.registry import Registry
from gateway.identity.resolver import Resolver
from gateway.identity.token_table import TokenTable
from gateway.identity.tokens import TOKEN_WINDOW_S, token_for, window_of

T0 = 1_732_450_000.0


def token_customers(n: int, rng: random.Random) -> list[Customer]:
    return [
        Customer.model_validate(
            {
                "customer_id": f"t{i:06d}",
                "consent": True,
                "identifiers": [{"kind": "token", "secret": rng.randbytes(16).hex()}],
            }
        )
        for i in range(n)
    ]


def irk_customers(n: int, rng: random.Random) -> list[Customer]:
    return [
        Customer.model_validate(
            {
                "customer_id": f"k{i:06d}",
                "consent": True,
                "identifiers": [{"kind": "irk", "irk": rng.randbytes(16).hex()}],
            }
        )
        for i in range(n)
    ]


def per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def bench_tokens(customers: list[Customer]) -> dict[str, float]:
    r = Resolver(customers)
    secret = bytes.fromhex(customers[0].identifiers[0].secret)  # type: ignore[union-attr]
    w = window_of(T0)
    hit = Advert(T0, "rx", "C0:00:00:00:00:01", -60, mfr=encode_token_frame(token_for(secret, w)))
    start = time.process_time()
    assert r.match(hit) == customers[0].customer_id  # the first token advert builds the table
    build_s = time.process_time() - start
    nxt = Advert(T0 + TOKEN_WINDOW_S, "rx", "C0:00:00:00:00:01", -60, mfr=encode_token_frame(token_for(secret, w + 1)))
    start = time.process_time()
    assert r.match(nxt) == customers[0].customer_id  # a window later: one window of HMACs
    roll_s = time.process_time() - start
    lookup_us = per_call_us(lambda: r.match(nxt), 200_000)

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    r2 = Resolver(customers)
    r2.match(hit)
    table_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    del r2
    secrets = [bytes.fromhex(c.identifiers[0].secret) for c in customers]  # type: ignore[union-attr]
    before = tracemalloc.get_traced_memory()[0]
    table = TokenTable()
    for c, secret in zip(customers, secrets, strict=True):
        table.set_customer(c.customer_id, [secret])
    table.lookup("00" * 8, T0)
    only_table_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()
    return {
        "customers": len(customers),
        "token_table_build_s": round(build_s, 3),
        "token_table_rollover_s": round(roll_s, 3),
        "token_table_entries": len(r._tokens._lookup),
        "token_resolver_memory_mb": round(table_mb, 1),
        "token_table_only_memory_mb": round(only_table_mb, 1),
        "token_match_us": round(lookup_us, 3),
    }


def bench_irks(customers: list[Customer], rng: random.Random) -> dict[str, float]:
    r = Resolver(customers)
    strangers = [make_rpa(rng.randbytes(16), rng.randbytes(3)) for _ in range(200)]
    # An address is resolved on its second sighting (flood defence): the first one costs a cache entry only.
    # One new address a second of advertisement time, as in a busy store, stays within the key-trial budget.
    first_ns = new_ns = 0
    for i, addr in enumerate(strangers):
        first, second = Advert(T0 + i, "rx", addr, -60), Advert(T0 + i + 0.1, "rx", addr, -60)
        start = time.process_time_ns()
        r.match(first)
        first_ns += time.process_time_ns() - start
        start = time.process_time_ns()
        r.match(second)
        new_ns += time.process_time_ns() - start
    first_us = first_ns / len(strangers) / 1e3
    new_ms = new_ns / len(strangers) / 1e6
    assert r.stats.irk_resolutions == len(strangers)
    cached = Advert(T0 + 300, "rx", strangers[0], -60)
    cached_us = per_call_us(lambda: r.match(cached), 200_000)
    irk0 = bytes.fromhex(customers[-1].identifiers[0].irk)  # type: ignore[union-attr]
    own = Advert(T0 + 301, "rx", make_rpa(irk0, b"\x01\x02\x03"), -60)
    r.match(own)
    assert r.match(own) == customers[-1].customer_id
    return {
        "irks": len(customers),
        "irk_first_sighting_us": round(first_us, 3),
        "irk_new_address_ms": round(new_ms, 3),
        "irk_cached_address_us": round(cached_us, 3),
    }


def stranger_adverts(rng: random.Random, n: int) -> list[Advert]:
    """Typical traffic of people who did not opt in: Apple continuity, Google/Microsoft, tags, RPAs."""
    out = []
    for i in range(n):
        kind = i % 5
        t = T0 + i * 0.01
        if kind == 0:
            addr = make_rpa(rng.randbytes(16), rng.randbytes(3))  # phone RPA (cached after first sight)
            out.append(Advert(t, "rx", addr, -70, mfr={"76": "1005" + rng.randbytes(5).hex()}))
        elif kind == 1:
            out.append(
                Advert(t, "rx", "C3:11:22:33:44:%02X" % (i % 256), -80, mfr={"6": "0109" + rng.randbytes(24).hex()})
            )
        elif kind == 2:
            out.append(
                Advert(
                    t,
                    "rx",
                    "D4:11:22:33:44:%02X" % (i % 256),
                    -75,
                    svc_data={"0000fe9f-0000-1000-8000-00805f9b34fb": rng.randbytes(20).hex()},
                )
            )
        elif kind == 3:  # someone else's iBeacon and Eddystone
            out.append(
                Advert(t, "rx", "E5:11:22:33:44:%02X" % (i % 256), -65, mfr={"76": "0215" + rng.randbytes(21).hex()})
            )
        else:
            out.append(
                Advert(
                    t,
                    "rx",
                    "F6:11:22:33:44:%02X" % (i % 256),
                    -65,
                    svc_data={EDDYSTONE_UUID: "00e7" + rng.randbytes(18).hex()},
                )
            )
    return out


def bench_strangers(customers: list[Customer], rng: random.Random) -> dict[str, float]:
    r = Resolver(customers)
    adverts = stranger_adverts(rng, 2000)
    # Warm up as a store would: every address heard twice, spread over time (the key-trial budget refills
    # with advertisement time), so the strangers' RPAs end in the negative cache.
    for k, a in enumerate(adverts):
        again = Advert(T0 + k * 0.5, a.rx, a.addr, a.rssi, a.tx_power, a.name, a.mfr, a.svc_data, a.svc_uuids)
        assert r.match(again) is None and r.match(again) is None
    baseline = per_call_us(lambda: [a.addr for a in adverts], 200) / len(adverts)
    match = r.match
    per = per_call_us(lambda: [match(a) for a in adverts], 200) / len(adverts)
    return {"stranger_match_us": round(per, 3), "list_iteration_baseline_us": round(baseline, 3)}


def bench_registry(customers: list[Customer]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "customers.jsonl"
        path.write_text("".join(json.dumps(c.storage_dict()) + "\n" for c in customers))
        reg = Registry(Path(d) / "registry.db")
        start = time.process_time()
        report = reg.import_file(path)
        import_s = time.process_time() - start
        start = time.process_time()
        loaded = reg.consenting()
        load_s = time.process_time() - start
        start = time.process_time()
        again = reg.import_file(path)
        reimport_s = time.process_time() - start
        size_mb = os.path.getsize(Path(d) / "registry.db") / 1e6
        reg.close()
    assert report.added == len(customers) == len(loaded) and again.unchanged == len(customers)
    return {
        "registry_import_s": round(import_s, 2),
        "registry_reimport_unchanged_s": round(reimport_s, 2),
        "registry_consenting_load_s": round(load_s, 2),
        "registry_file_mb": round(size_mb, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--customers", type=int, default=100_000, help="token customers (default 100000)")
    ap.add_argument("--irks", type=int, default=10_000, help="IRK customers (default 10000)")
    ap.add_argument("--registry", action="store_true", help="also time a registry import of the token customers")
    args = ap.parse_args()
    rng = random.Random(42)
    tokens = token_customers(args.customers, rng)
    irks = irk_customers(args.irks, rng)
    results: dict[str, float] = {}
    results.update(bench_tokens(tokens))
    results.update(bench_irks(irks, rng))
    results.update(bench_strangers(tokens + irks, rng))
    if args.registry:
        results.update(bench_registry(tokens))
    for k, v in results.items():
        print(f"{k:32s} {v}")


if __name__ == "__main__":
    main()
