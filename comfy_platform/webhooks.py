"""Webhook signatures as the Standard Webhooks spec (standardwebhooks.com) defines them, made by its reference
library (`standardwebhooks`).

Three headers travel with every delivery: `webhook-id` (the same on every retry, so receivers can drop
duplicates), `webhook-timestamp` (unix seconds, so a replayed old request can be refused) and `webhook-signature`,
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the bytes of the key's `whsec_` secret.
Receivers check a delivery with the same library, or with `sdk.verify_webhook`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value for one delivery: `v1,<base64>`."""
    return Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body)


def signature_headers(secret: str, webhook_id: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The three headers to send with `body`, signed now (or at `timestamp`)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, body)}
