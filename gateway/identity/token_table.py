"""The table of expected rotating tokens (SPEC section 6): token -> (customer, window).

A token advertised in window k is accepted at advertisement time t when |k - window_of(t)| <= 1. Each
entry remembers its window, so that rule holds exactly whatever order adverts arrive in; the check costs
nothing for strangers, whose lookup misses.

The table covers windows c-2 .. c+1 around a centre c that only moves forward with the adverts' own clock
(or jumps when the clock leaps back more than a window, e.g. a new recording). Receivers' clocks interleave by
a second or two, so adverts near a boundary alternate between windows; a centred-on-w table would be rebuilt
on every such advert, this one is extended by one window of HMACs per TOKEN_WINDOW_S.

Memory: with 100,000 customers the table holds 400,000 entries, so each is kept small: the token as an int
(36 bytes rather than a 65-byte str) and the value as one int, customer slot * 4 + window mod 4 (the four
covered windows are distinct modulo 4), rather than a (customer, window) tuple.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from gateway.identity.tokens import TOKEN_LEN_BYTES, TOKEN_WINDOW_S, token_message

_BEHIND = 2  # windows kept behind the centre: late adverts (w = c - 1) still see their w - 1
_AHEAD = 1  # windows kept ahead of the centre: adverts at w = c see their w + 1
_SPAN = _BEHIND + _AHEAD + 1  # covered windows, distinct modulo _SPAN


def _token_int(secret: bytes, msg: bytes) -> int:
    return int.from_bytes(hmac.digest(secret, msg, "sha256")[:TOKEN_LEN_BYTES], "big")


class TokenTable:
    __slots__ = ("_centre", "_ids", "_lookup", "_secrets", "_slot", "_window_keys", "rebuilds", "windows_computed")

    def __init__(self) -> None:
        self._secrets: dict[str, tuple[bytes, ...]] = {}
        self._slot: dict[str, int] = {}  # customer -> slot in _ids
        self._ids: list[str | None] = []  # slot -> customer; None once removed (slots are not reused)
        self._lookup: dict[int, int] = {}  # token -> slot * _SPAN + window % _SPAN
        self._window_keys: dict[int, list[int]] = {}  # what to delete when a window falls behind
        self._centre: int | None = None
        self.rebuilds = 0  # times the centre moved
        self.windows_computed = 0  # customer-windows of HMACs computed (cost indicator)

    def __len__(self) -> int:
        return len(self._secrets)

    def _covered(self) -> range:
        if self._centre is None:
            return range(0)
        return range(self._centre - _BEHIND, self._centre + _AHEAD + 1)

    def _add_window(self, w: int, only: dict[str, tuple[bytes, ...]] | None = None) -> None:
        """Tokens of window `w` for all customers (or `only` these), with the HMAC message built once."""
        lookup = self._lookup
        slot_of = self._slot
        msg = token_message(w)
        r = w % _SPAN
        keys = self._window_keys.setdefault(w, [])
        for customer_id, secrets in (self._secrets if only is None else only).items():
            value = slot_of[customer_id] * _SPAN + r
            for secret in secrets:
                tok = _token_int(secret, msg)
                lookup[tok] = value
                keys.append(tok)
                self.windows_computed += 1

    def set_customer(self, customer_id: str, secrets: Iterable[bytes]) -> None:
        """Adds or replaces a customer's token secrets; takes effect at once for the covered windows."""
        self.remove(customer_id)
        secrets = tuple(secrets)
        if not secrets:
            return
        self._secrets[customer_id] = secrets
        self._slot[customer_id] = len(self._ids)
        self._ids.append(customer_id)
        for w in self._covered():
            self._add_window(w, only={customer_id: secrets})

    def remove(self, customer_id: str) -> None:
        secrets = self._secrets.pop(customer_id, None)
        if not secrets:
            return
        slot = self._slot.pop(customer_id)
        self._ids[slot] = None
        lookup = self._lookup
        for w in self._covered():
            msg = token_message(w)
            for secret in secrets:
                tok = _token_int(secret, msg)
                v = lookup.get(tok)
                if v is not None and v // _SPAN == slot:
                    del lookup[tok]

    def _recentre(self, w: int) -> None:
        old = self._covered()
        self._centre = w
        new = self._covered()
        self.rebuilds += 1
        if old and old.start <= new.start <= old.stop:
            # Moving forward: drop what fell behind, compute only the windows that appeared ahead.
            lookup = self._lookup
            for gone in [k for k in self._window_keys if k < new.start]:
                r = gone % _SPAN
                for tok in self._window_keys.pop(gone):
                    v = lookup.get(tok)
                    if v is not None and v % _SPAN == r:
                        del lookup[tok]
            fresh = range(max(old.stop, new.start), new.stop)
        else:
            self._lookup = {}
            self._window_keys = {}
            fresh = new
        for fw in fresh:
            self._add_window(fw)

    def lookup(self, token_hex: str, t: float) -> str | None:
        """The customer whose token this is within one window of `t` (the advert's time), else None."""
        try:
            w = int(t // TOKEN_WINDOW_S)
            tok = int(token_hex, 16)
        except (ValueError, OverflowError):  # NaN/infinite time or a non-hex token: match nothing
            return None
        c = self._centre
        if c is None or w > c or w < c - 1:
            if not self._secrets:
                return None
            self._recentre(w)
            c = w
        v = self._lookup.get(tok)
        if v is None:
            return None
        slot, r = divmod(v, _SPAN)
        lo = c - _BEHIND
        k = lo + (r - lo) % _SPAN  # the covered window congruent to r
        return self._ids[slot] if -1 <= k - w <= 1 else None
