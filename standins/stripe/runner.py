"""Starting and stopping the Stripe stand-in: in-process (tests, dev) or as a blocking CLI server, plus async
helpers that drive the /_stripe/ controls over HTTP, exactly as a test in another process would."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from ..serving import listen, serve_until_signalled
from .config import StripeConfig
from .server import create_app
from .state import STATE, StripeState

log = logging.getLogger("standins.stripe")


class ControlError(RuntimeError):
    """A /_stripe/ control refused: `status` and Stripe's error object in `error`."""

    def __init__(self, status: int, error: dict) -> None:
        super().__init__(f"{status}: {error.get('message')}")
        self.status, self.error = status, error


class RunningStripe:
    def __init__(self, host: str, port: int, config: StripeConfig) -> None:
        self.host, self.port, self.config = host, port, config
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._state: StripeState | None = None  # kept across stop()/start(): an outage, not a new account

    @property
    def url(self) -> str:
        """The API base, what the SDK's base_addresses point at (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_addresses(self) -> dict[str, str]:
        """`stripe.StripeClient(key, base_addresses=running.base_addresses)`: every base the SDK knows."""
        return {"api": self.url, "connect": self.url, "files": self.url, "meter_events": self.url}

    @property
    def state(self) -> StripeState | None:
        """The in-process state, for white-box checks."""
        return self.app[STATE] if self.app is not None else None

    async def start(self) -> None:
        if self._runner is not None:
            return
        self.app = create_app(self.config, self._state)
        self._state = self.app[STATE]
        self._runner, self.port = await listen(self.app, self.host, self.port)
        self.app[STATE].own_url = self.config.public_url or self.url
        log.warning("Stripe TEST STAND-IN (not Stripe) listening on %s (API version %s%s)", self.url,
                    self.config.api_version, f", data dir {self.config.data_dir}" if self.config.data_dir else "")

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # --- control helpers
    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, json=body) as resp:
                if resp.status == 204:
                    return None
                data = await resp.json(content_type=None)
                if resp.status >= 400:
                    raise ControlError(resp.status, data.get("error", {}) if isinstance(data, dict) else {})
                return data

    async def now(self) -> int:
        return (await self._call("GET", "/_stripe/clock"))["now"]

    async def advance(self, seconds: int | None = None, *, to: int | str | None = None,
                      subscription: str | None = None) -> dict:
        """Move the clock forward by `seconds`, to a unix time, or to="period_end" of `subscription`;
        {"now", "happened", "events"}."""
        if seconds is not None:
            body: dict[str, Any] = {"seconds": seconds}
        else:
            body = {"to": to}
            if subscription is not None:
                body["subscription"] = subscription
        return await self._call("POST", "/_stripe/clock/advance", body)

    async def back_to_wall_time(self) -> dict:
        """Undo a test's advances for whatever comes next (what it made keeps its times)."""
        return await self._call("POST", "/_stripe/clock/wall")

    async def pay_checkout(self, session_id: str, card: str = "4242424242424242", **fields: Any) -> dict:
        """Complete a Checkout Session as a customer would (fields: exp, cvc, name, email); a declined card
        raises ControlError with status 402."""
        return await self._call("POST", f"/_stripe/checkout/{session_id}/pay", {"card": card, **fields})

    async def fail_charges(self, customer_id: str, fail: bool = True, decline_code: str = "generic_decline") -> dict:
        return await self._call("POST", f"/_stripe/customers/{customer_id}/fail_charges",
                                {"fail": fail, "decline_code": decline_code})

    async def set_default_portal_configuration(self, **fields: Any) -> dict:
        return await self._call("POST", "/_stripe/portal/default_configuration", fields)

    async def portal_switch(self, portal_session: str, subscription: str, price: str) -> dict:
        return await self._call("POST", f"/_stripe/portal/{portal_session}/update",
                                {"subscription": subscription, "price": price})

    async def portal_cancel(self, portal_session: str, subscription: str) -> dict:
        return await self._call("POST", f"/_stripe/portal/{portal_session}/cancel", {"subscription": subscription})

    async def portal_renew(self, portal_session: str, subscription: str) -> dict:
        return await self._call("POST", f"/_stripe/portal/{portal_session}/renew", {"subscription": subscription})

    async def hold_webhooks(self) -> None:
        await self._call("POST", "/_stripe/webhooks/hold")

    async def release_webhooks(self, order: str = "sent") -> int:
        return (await self._call("POST", "/_stripe/webhooks/release", {"order": order}))["released"]

    async def delay_webhooks(self, seconds: float) -> None:
        await self._call("POST", "/_stripe/webhooks/delay", {"seconds": seconds})

    async def deliver_again(self, event_id: str, delay: float = 0, endpoint: str | None = None) -> int:
        body: dict[str, Any] = {"delay": delay}
        if endpoint is not None:
            body["endpoint"] = endpoint
        return (await self._call("POST", f"/_stripe/events/{event_id}/deliver", body))["queued"]

    async def deliveries(self) -> dict:
        return await self._call("GET", "/_stripe/webhooks/deliveries")

    async def meter_events(self, **filters: str) -> dict:
        query = urlencode(filters)
        return await self._call("GET", "/_stripe/meter_events" + (f"?{query}" if query else ""))

    async def reset(self) -> None:
        await self._call("POST", "/_stripe/reset")


async def start_stripe(host: str = "127.0.0.1", port: int = 9600, config: StripeConfig | None = None) -> RunningStripe:
    server = RunningStripe(host, port, config or StripeConfig())
    await server.start()
    return server


def run(host: str = "127.0.0.1", port: int = 9600, config: StripeConfig | None = None) -> None:
    """Serve until SIGINT/SIGTERM (the CLI entry point)."""
    serve_until_signalled(lambda: start_stripe(host, port, config))
