"""create_app: Stripe's v1 API routes, the hosted pages (checkout, portal, invoices) and the /_stripe/
controls on one aiohttp application.

Every /v1/ request goes through one middleware, in Stripe's order: a request id, the secret key (401
otherwise), the API version (Stripe-Version or the account's), a replay when the Idempotency-Key was seen
(400 idempotency_error if it came with other parameters), then the handler; its StripeError becomes Stripe's
error JSON, and a dict answer gets `expand` applied. A path nothing serves answers Stripe's "Unrecognized
request URL" 404 and logs one line naming it, so a missing feature is obvious.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
from urllib.parse import parse_qsl

from aiohttp import web

from . import (control, pages, routes_billing, routes_catalog, routes_checkout, routes_customers, routes_invoices,
               routes_portal, routes_subscriptions, routes_webhooks)
from .billing import run_until
from .config import StripeConfig
from .context import CONTEXT, RequestContext, current
from .errors import StripeError
from .lists import expand
from .params import decode, expand_paths
from .state import STATE, StripeState

log = logging.getLogger("standins.stripe")
VERSION_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")
TICK_S = 1.0  # how often renewals, retries and expiries that fell due in real time are looked at


def api_key_of(request: web.Request) -> str | None:
    """The secret key, from Bearer auth (the SDK) or Basic auth with the key as user name (curl -u)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def check_key(config: StripeConfig, key: str | None) -> None:
    if key is None:
        raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                               "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                               "YOUR_SECRET_KEY'). "
                               "See https://stripe.com/docs/api#authentication for details, or we can help at "
                               "https://support.stripe.com/.",
                          headers={"WWW-Authenticate": 'Bearer realm="Stripe"'})
    accepted = key in config.api_keys if config.api_keys else key.startswith(("sk_test_", "rk_test_"))
    if not accepted:
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)
        raise StripeError(401, f"Invalid API Key provided: {shown}",
                          headers={"WWW-Authenticate": 'Bearer realm="Stripe"'})


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(text=json.dumps(body, indent=2), status=status, content_type="application/json",
                        headers=headers)


@web.middleware
async def api_middleware(request: web.Request, handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/") and not request.path.startswith("/v2/"):
        return await handler(request)
    state: StripeState = request.app[STATE]
    request_id = state.ids.new("req_")
    base = {"Request-Id": request_id, "Stripe-Version": state.config.api_version}
    try:
        key = api_key_of(request)
        check_key(state.config, key)
        if request.headers.get("Stripe-Account") or request.headers.get("Stripe-Context"):
            raise StripeError(400, "This Stripe stand-in does not implement Connect (Stripe-Account / "
                                   "Stripe-Context headers).")
        version = request.headers.get("Stripe-Version") or state.config.api_version
        if not VERSION_FORMAT.fullmatch(version):
            raise StripeError(400, f"Invalid Stripe API version: {version}")
        base["Stripe-Version"] = version
        body_text = await request.text() if request.method == "POST" else ""
        pairs = parse_qsl(request.query_string, keep_blank_values=True)
        if request.method == "POST":
            pairs += parse_qsl(body_text, keep_blank_values=True)
        decoded = decode(pairs)
        idempotency_key = request.headers.get("Idempotency-Key")
        slot = None
        if idempotency_key and request.method in ("POST", "DELETE"):
            slot = (key, idempotency_key)
            fingerprint = hashlib.sha256(f"{request.method} {request.path}?{request.query_string}\n{body_text}"
                                         .encode()).hexdigest()
            kept = state.reply_for(slot)
            if kept is not None:
                if kept[0] != fingerprint:
                    raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters "
                                           "they were first used with. Try using a key other than "
                                           f"'{idempotency_key}' if you meant to execute a different request.",
                                      type="idempotency_error")
                return web.Response(text=kept[2], status=kept[1], content_type="application/json",
                                    headers=base | kept[3] | {"Idempotent-Replayed": "true"})
        token = CONTEXT.set(RequestContext(request_id, idempotency_key, version, f"{request.scheme}://{request.host}",
                                           decoded))
        try:
            try:
                result = await handler(request)
                if isinstance(result, dict):
                    result = json_response(expand(state, result, expand_paths(decoded), version))
            except StripeError as error:
                result = json_response(error.body(), error.status, error.headers)
            if slot is not None and isinstance(result, web.Response) and (200 <= result.status < 300
                                                                          or result.status == 402):
                extra = {k: v for k, v in result.headers.items() if k.lower() == "stripe-should-retry"}
                state.keep_reply(slot, (fingerprint, result.status, result.text, extra, state.now()))
        finally:
            CONTEXT.reset(token)
        if request.method != "GET":  # a declined payment changes things too (attempts, events)
            state.save()
        result.headers.update(base)
        return result
    except StripeError as error:
        response = json_response(error.body(), error.status, error.headers)
        response.headers.update(base)
        return response
    except Exception:
        log.exception("Stripe stand-in failed on %s %s", request.method, request.path)
        response = json_response({"error": {"type": "api_error", "message": "An unknown error occurred in the "
                                                                            "Stripe stand-in (see its log)."}}, 500)
        response.headers.update(base | {"Stripe-Should-Retry": "false"})  # a bug here: retrying will not help
        return response


@web.middleware
async def context_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Pages and controls: no request id, the account's version, this address for hosted-page URLs; the
    state is saved after anything that may have changed it."""
    if request.path.startswith(("/v1/", "/v2/")):
        return await handler(request)
    token = CONTEXT.set(RequestContext(base_url=f"{request.scheme}://{request.host}"))
    try:
        return await handler(request)  # pages answer some POSTs by raising a 303
    finally:
        CONTEXT.reset(token)
        if request.method != "GET":
            request.app[STATE].save()


async def unrecognized(request: web.Request) -> web.Response:
    names = sorted(current().params)
    log.warning("Stripe stand-in does not implement %s %s (parameters: %s)", request.method, request.path,
                ", ".join(names) or "none")
    return json_response(StripeError(
        404, f"Unrecognized request URL ({request.method}: {request.path}). Please see https://stripe.com/docs or "
             "we can help at https://support.stripe.com/. (This Stripe stand-in does not implement it.)").body(), 404)


async def index(request: web.Request) -> web.Response:
    return web.Response(text="Stripe TEST STAND-IN (not Stripe). API under /v1 (point the SDK's base_addresses "
                             "here); hosted pages under /c, /p and /i; controls under /_stripe/.\n")


def create_app(config: StripeConfig | None = None, state: StripeState | None = None) -> web.Application:
    """The stand-in's app; given the `state` of an earlier one, it carries on with everything that one knew (a
    restart of Stripe's servers loses nothing)."""
    app = web.Application(middlewares=[api_middleware, context_middleware])
    state = state or StripeState(config or StripeConfig())
    app[STATE] = state
    for module in (routes_customers, routes_catalog, routes_checkout, routes_portal, routes_subscriptions,
                   routes_invoices, routes_billing, routes_webhooks, pages, control):
        for method, path, handler in module.ROUTES:
            app.router.add_route(method, path, handler)
    app.router.add_get("/", index)
    app.router.add_route("*", "/{tail:.*}", unrecognized)

    async def on_startup(app: web.Application) -> None:
        await state.webhooks.start()
        app[TICKER] = asyncio.create_task(_tick(state), name="stripe-clock")

    async def on_cleanup(app: web.Application) -> None:
        app[TICKER].cancel()
        try:
            await app[TICKER]
        except asyncio.CancelledError:
            pass
        await state.webhooks.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


TICKER = web.AppKey("stripe_ticker", asyncio.Task)


async def _tick(state: StripeState) -> None:
    """Renewals, payment retries and session expiries that fall due as real time passes (`make dev` left
    running), not only when a test advances the clock."""
    while True:
        await asyncio.sleep(TICK_S)
        try:
            token = CONTEXT.set(RequestContext())
            try:
                if run_until(state, state.now()):
                    state.save()
            finally:
                CONTEXT.reset(token)
        except Exception:
            log.exception("Stripe stand-in clock tick failed")
