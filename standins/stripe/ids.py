"""Object ids with Stripe's prefixes and lengths (`cus_` + 14, `sub_` + 24, `cs_test_` + 58, ...).

They come from an HMAC of a seed and a counter: a fixed seed gives the same ids run after run, and the
counter is kept with the state, so ids never repeat across restarts or resets (a product database may still
hold ids from before a reset)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

ALPHABET = string.digits + string.ascii_letters
LENGTHS = {"cus_": 14, "prod_": 14, "si_": 14, "req_": 14, "cs_test_": 58, "whsec_": 32}


class Ids:
    def __init__(self, seed: str | None = None, counter: int = 0) -> None:
        self.seed = seed if seed is not None else secrets.token_hex(8)
        self.counter = counter

    def _chars(self, length: int) -> str:
        self.counter += 1
        out = ""
        block = 0
        while len(out) < length:
            digest = hmac.new(self.seed.encode(), f"{self.counter}:{block}".encode(), hashlib.sha256).digest()
            number = int.from_bytes(digest, "big")
            while number and len(out) < length:
                number, digit = divmod(number, len(ALPHABET))
                out += ALPHABET[digit]
            block += 1
        return out

    def new(self, prefix: str, length: int | None = None) -> str:
        return prefix + self._chars(length or LENGTHS.get(prefix, 24))

    def invoice_prefix(self) -> str:
        return "".join(c for c in self._chars(16).upper() if c in "0123456789ABCDEF")[:8].ljust(8, "0")
