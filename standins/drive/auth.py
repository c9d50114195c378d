"""Which user a bearer token belongs to.

Tokens come from two places: registered over /_drive/tokens, or, when the server was started
with a userinfo URL, any token the OpenID Connect provider accepts (GET userinfo with it, the
user is the `sub`). A provider's answer is kept for at most `cache_s` (default 1 s) so that a
token revoked at the provider stops working here almost at once, as a revoked Google token does.
"""

from __future__ import annotations

import logging
import time

import aiohttp
from aiohttp import web

from .errors import ApiError, unauthorized

log = logging.getLogger("standins.drive.auth")


class TokenAuth:
    def __init__(self, userinfo_url: str | None, cache_s: float) -> None:
        self.userinfo_url, self.cache_s = userinfo_url, cache_s
        self.tokens: dict[str, str] = {}
        self._cache: dict[str, tuple[str, float]] = {}  # token -> (user, valid until)
        self._session: aiohttp.ClientSession | None = None

    def use_provider(self, userinfo_url: str | None) -> None:
        self.userinfo_url = userinfo_url
        self._cache.clear()

    def reset(self, userinfo_url: str | None) -> None:
        self.tokens.clear()
        self.use_provider(userinfo_url)

    async def user_for(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        user = self.tokens.get(token)
        if user is None and self.userinfo_url:
            user = await self._from_provider(token)
        if user is None:
            raise unauthorized()
        return user

    async def _from_provider(self, token: str) -> str | None:
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.get(self.userinfo_url, headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status != 200:
                    self._cache.pop(token, None)
                    return None
                user = str((await resp.json(content_type=None))["sub"])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as error:
            # Not the token's fault: answer like a Drive backend hiccup, which callers retry.
            log.warning("userinfo lookup failed: %r", error)
            raise ApiError(503, "backendError", "The service is currently unavailable.") from None
        now = time.monotonic()
        if len(self._cache) > 10_000:  # many short-lived tokens: forget the expired ones
            self._cache = {t: entry for t, entry in self._cache.items() if entry[1] > now}
        self._cache[token] = (user, now + self.cache_s)
        return user

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
