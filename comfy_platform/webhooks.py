"""Webhook signatures as the Standard Webhooks spec (standardwebhooks.com) defines them.

Three headers travel with every delivery: `webhook-id` (the same on every retry, so receivers can drop
duplicates), `webhook-timestamp` (unix seconds, so a replayed old request can be refused) and `webhook-signature`,
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the bytes of the key's `whsec_` secret.
Receivers (and the client library) check a delivery with `verify`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from comfy_platform.secrets import WEBHOOK_SECRET_PREFIX

DEFAULT_TOLERANCE_S = 300


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value for one delivery: `v1,<base64>`."""
    body = body.encode() if isinstance(body, str) else body
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(secret: str, webhook_id: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The three headers to send with `body`, signed now (or at `timestamp`)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance_s: float = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> bool:
    """True when `body` was signed with `secret` less than `tolerance_s` ago (either way, for clock skew).

    `headers` may be any mapping; names are matched without regard to case. Pass the body exactly as received:
    a re-serialised JSON body will not verify."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id, timestamp, signatures = (lowered.get(n) for n in ("webhook-id", "webhook-timestamp",
                                                                  "webhook-signature"))
    if not (webhook_id and timestamp and signatures):
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance_s:
        return False
    try:
        expected = sign(secret, webhook_id, sent_at, body).encode()
    except (ValueError, binascii.Error):
        return False
    # Several space-separated signatures may be sent while a secret is being rotated; one match is enough.
    return any(hmac.compare_digest(candidate.encode(), expected)
               for candidate in signatures.split() if candidate.startswith("v1,"))


def _secret_bytes(secret: str) -> bytes:
    encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
