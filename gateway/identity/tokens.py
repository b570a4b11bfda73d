"""The rotating app token of SPEC section 6 (pure).

token = HMAC-SHA256(secret, b"PXT1" + uint32_be(floor(t / 300)))[:8]
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct

TOKEN_WINDOW_S = 300  # the app rotates its token every five minutes
TOKEN_LEN_BYTES = 8
TOKEN_DOMAIN = b"PXT1"  # domain separation: a secret reused elsewhere cannot produce our tokens
SECRET_MIN_BYTES = 16
SECRET_MAX_BYTES = 32


def window_of(t: float) -> int:
    return math.floor(t / TOKEN_WINDOW_S)


def token_for(secret: bytes, window: int) -> bytes:
    msg = TOKEN_DOMAIN + struct.pack(">I", window & 0xFFFFFFFF)
    return hmac.new(secret, msg, hashlib.sha256).digest()[:TOKEN_LEN_BYTES]


def token_message(window: int) -> bytes:
    """The HMAC message of a window: the same for every customer, so bulk builds compute it once."""
    return TOKEN_DOMAIN + struct.pack(">I", window & 0xFFFFFFFF)
