"""The table of expected rotating tokens (SPEC section 6): token hex -> (customer id, window).

A token advertised in window k is accepted at advertisement time t when |k - window_of(t)| <= 1. Each
entry remembers its window, so that rule holds exactly whatever order adverts arrive in; the check costs
nothing for strangers, whose lookup misses.

The table covers windows c-2 .. c+1 around a centre c that only moves forward with the adverts' own clock
(or jumps when the clock leaps back more than a window, e.g. a new recording). Receivers' clocks interleave by
a second or two, so adverts near a boundary alternate between windows; a centred-on-w table would be rebuilt
on every such advert, this one is extended by one window of HMACs per TOKEN_WINDOW_S.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from gateway.identity.tokens import TOKEN_LEN_BYTES, TOKEN_WINDOW_S, token_hex_for, token_message

_BEHIND = 2  # windows kept behind the centre: late adverts (w = c - 1) still see their w - 1
_AHEAD = 1  # windows kept ahead of the centre: adverts at w = c see their w + 1


class TokenTable:
    __slots__ = ("_centre", "_lookup", "_secrets", "_window_keys", "rebuilds", "windows_computed")

    def __init__(self) -> None:
        self._secrets: dict[str, tuple[bytes, ...]] = {}
        self._lookup: dict[str, tuple[str, int]] = {}
        self._window_keys: dict[int, list[str]] = {}  # what to delete when a window falls behind
        self._centre: int | None = None
        self.rebuilds = 0  # times the centre moved
        self.windows_computed = 0  # customer-windows of HMACs computed (cost indicator)

    def __len__(self) -> int:
        return len(self._secrets)

    def _covered(self) -> range:
        if self._centre is None:
            return range(0)
        return range(self._centre - _BEHIND, self._centre + _AHEAD + 1)

    def _add_tokens(self, customer_id: str, secrets: Iterable[bytes], windows: Iterable[int]) -> None:
        lookup = self._lookup
        for w in windows:
            keys = self._window_keys.setdefault(w, [])
            value = (customer_id, w)
            for secret in secrets:
                tok = token_hex_for(secret, w)
                lookup[tok] = value
                keys.append(tok)
                self.windows_computed += 1

    def _add_window(self, w: int) -> None:
        """All customers' tokens of window `w`: the bulk path, with the HMAC message built once."""
        lookup = self._lookup
        msg = token_message(w)
        keys: list[str] = []
        for customer_id, secrets in self._secrets.items():
            value = (customer_id, w)
            for secret in secrets:
                tok = hmac.digest(secret, msg, "sha256")[:TOKEN_LEN_BYTES].hex()
                lookup[tok] = value
                keys.append(tok)
        self._window_keys.setdefault(w, []).extend(keys)
        self.windows_computed += len(keys)

    def set_customer(self, customer_id: str, secrets: Iterable[bytes]) -> None:
        """Adds or replaces a customer's token secrets; takes effect at once for the covered windows."""
        self.remove(customer_id)
        secrets = tuple(secrets)
        if not secrets:
            return
        self._secrets[customer_id] = secrets
        self._add_tokens(customer_id, secrets, self._covered())

    def remove(self, customer_id: str) -> None:
        secrets = self._secrets.pop(customer_id, None)
        if not secrets:
            return
        lookup = self._lookup
        for w in self._covered():
            for secret in secrets:
                tok = token_hex_for(secret, w)
                if lookup.get(tok, ("", 0))[0] == customer_id:
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
                for tok in self._window_keys.pop(gone):
                    hit = lookup.get(tok)
                    if hit is not None and hit[1] == gone:
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
        except (ValueError, OverflowError):  # NaN or infinite time from a broken source: match nothing
            return None
        c = self._centre
        if c is None or w > c or w < c - 1:
            if not self._secrets:
                return None
            self._recentre(w)
        hit = self._lookup.get(token_hex)
        if hit is None:
            return None
        cid, k = hit
        return cid if -1 <= k - w <= 1 else None
