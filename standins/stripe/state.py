"""One running stand-in: configuration, the store, the clock, the id generator, webhook deliveries and the
replies kept for Idempotency-Keys; loaded from and saved to the data dir when there is one."""

from __future__ import annotations

import logging
from collections import OrderedDict

from aiohttp import web

from . import store as store_module
from .clock import Clock
from .config import StripeConfig
from .context import current
from .ids import Ids
from .store import Store
from .webhooks import Webhooks

log = logging.getLogger("standins.stripe")
MAX_IDEMPOTENT_REPLIES = 10_000
IDEMPOTENCY_WINDOW_S = 24 * 3600  # Stripe keeps keys for at least 24 hours


class StripeState:
    def __init__(self, config: StripeConfig) -> None:
        self.config = config
        self.store = Store()
        self.clock = Clock()
        self.ids = Ids(config.seed)
        self.webhooks = Webhooks(self)
        # (api key, Idempotency-Key) -> (fingerprint of the request, status, body, headers, stored at)
        self.replies: OrderedDict[tuple[str, str], tuple] = OrderedDict()
        self._loading = False
        self.own_url: str | None = None  # set once listening: hosted-page URLs made outside any request
        data = store_module.read_file(config.data_dir) if config.data_dir else None
        if data is not None:
            self._load(data)
        self.ensure_configured_endpoint()

    # --- time and addresses
    def now(self) -> int:
        return self.clock.now()

    def base_url(self) -> str:
        """Where browsers reach the hosted pages."""
        return (self.config.public_url or current().base_url or self.own_url or "http://127.0.0.1").rstrip("/")

    # --- the endpoint given on the command line
    def ensure_configured_endpoint(self) -> None:
        """The --webhook-url endpoint exists (once: matched by URL across restarts) with the given secret."""
        url = self.config.webhook_url
        if not url:
            return
        for endpoint in list(self.store.webhook_endpoints.values()):
            if not endpoint.get("_configured"):
                continue
            if endpoint["url"] != url:  # started with another --webhook-url before: that one is gone
                del self.store.webhook_endpoints[endpoint["id"]]
                continue
            if self.config.webhook_secret:
                endpoint["secret"] = self.config.webhook_secret
            endpoint["enabled_events"] = list(self.config.webhook_events)
            return
        secret = self.config.webhook_secret or self.ids.new("whsec_")
        self.store.add("webhook_endpoints", {
            "id": self.ids.new("we_"), "created": self.now(), "url": url,
            "enabled_events": list(self.config.webhook_events),
            "secret": secret, "status": "enabled", "description": "--webhook-url", "metadata": {},
            "api_version": None, "_configured": True})
        if not self.config.webhook_secret:
            log.warning("Stripe stand-in webhook endpoint %s has the generated secret %s", url, secret)
        self.save()

    # --- persistence
    def save(self) -> None:
        if self.config.data_dir is None or self._loading:
            return
        store_module.write_file(self.config.data_dir, {
            "store": self.store.dump(), "ids": {"seed": self.ids.seed, "counter": self.ids.counter},
            "clock": {"offset": self.clock.offset}, "webhooks": self.webhooks.dump()})

    def _load(self, data: dict) -> None:
        self._loading = True
        try:
            self.store.load(data.get("store", {}))
            ids = data.get("ids", {})
            self.ids = Ids(ids.get("seed", self.config.seed), int(ids.get("counter", 0)))
            self.clock = Clock(float(data.get("clock", {}).get("offset", 0.0)))
            self.webhooks.load(data.get("webhooks", {}))
        finally:
            self._loading = False

    def reset(self) -> None:
        """Everything back to a fresh start, except the id counter (ids never repeat) and the configured
        webhook endpoint (recreated)."""
        self.store = Store()
        self.clock = Clock()
        self.webhooks.reset()
        self.replies.clear()
        self.ensure_configured_endpoint()
        self.save()

    # --- idempotency
    def reply_for(self, key: tuple[str, str]) -> tuple | None:
        entry = self.replies.get(key)
        if entry is not None and entry[4] + IDEMPOTENCY_WINDOW_S < self.now():
            del self.replies[key]
            return None
        return entry

    def keep_reply(self, key: tuple[str, str], entry: tuple) -> None:
        self.replies[key] = entry
        while len(self.replies) > MAX_IDEMPOTENT_REPLIES:
            self.replies.popitem(last=False)


STATE = web.AppKey("stripe_state", StripeState)


def state_of(request: web.Request) -> StripeState:
    return request.app[STATE]
