"""Before/after thumbnails of a creator's photos: made by the Drive activities (the photo's when it is taken from
Drive, the edit's when it is stored in Drive), kept in storage next to the jobs' files, and shown through links
that expire and work only for the account they were made for."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal

from comfy_platform.settings import Settings

Which = Literal["before", "after"]
LINK_TTL_S = 3600


def thumbnail_key(user_id: str, file_id: str, version: str, which: Which) -> str:
    return f"thumbnails/creator/{user_id}/{file_id}@{version}/{which}.jpg"


def _signature(settings: Settings, user_id: str, photo_id: str, which: str, expires: int) -> str:
    key = hashlib.sha256(b"creator-thumbnail\0" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, f"{user_id}|{photo_id}|{which}|{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def thumbnail_link(settings: Settings, user_id: str, photo_id: str, which: Which, now: float | None = None) -> str:
    """A link to the thumbnail for one hour (rounded up to the hour, so a page's links stay cacheable)."""
    expires = (int((now or time.time()) // LINK_TTL_S) + 2) * LINK_TTL_S
    return (f"/creator/photos/{photo_id}/thumbnail/{which}?expires={expires}"
            f"&sig={_signature(settings, user_id, photo_id, which, expires)}")


def link_valid(settings: Settings, user_id: str, photo_id: str, which: str, expires: int, sig: str,
               now: float | None = None) -> bool:
    """The link was made for this account and this photo, and has not expired."""
    if expires < (now or time.time()):
        return False
    return hmac.compare_digest(_signature(settings, user_id, photo_id, which, expires), sig)
