"""Stripe's error shape: `{"error": {"type", "code", "message", "param", "doc_url", ...}}` with the status the
SDK maps to its exceptions (400/404 InvalidRequestError, 401 AuthenticationError, 402 CardError, 409 retried,
5xx APIError). Handlers raise StripeError; the middleware renders it with the request id."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, decline_code: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.decline_code, self.headers, self.extra = decline_code, headers or {}, extra or {}

    def body(self) -> dict:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}

    def response(self, request_id: str | None = None) -> web.Response:
        headers = dict(self.headers)
        if request_id:
            headers["Request-Id"] = request_id
        return web.json_response(self.body(), status=self.status, headers=headers)


# What "No such ..." calls each kind of object, as Stripe words it.
LABELS = {
    "customers": "customer", "products": "product", "prices": "price", "subscriptions": "subscription",
    "subscription_items": "subscription_item", "invoices": "invoice", "checkout_sessions": "checkout.session",
    "portal_configurations": "configuration", "portal_sessions": "billing_portal.session",
    "meters": "billing.meter", "webhook_endpoints": "webhook endpoint", "events": "event",
    "payment_methods": "PaymentMethod",
}


def no_such(table: str, object_id: str, *, param: str | None = "id", status: int = 404) -> StripeError:
    """A missing object: 404 when it is the one the URL names, 400 when a parameter names it."""
    return StripeError(status, f"No such {LABELS.get(table, table)}: '{object_id}'", code="resource_missing",
                       param=param)


def invalid(param: str | None, message: str, code: str | None = None, status: int = 400) -> StripeError:
    return StripeError(status, message, code=code, param=param)


def missing_param(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown_param(param: str) -> StripeError:
    # Stripe's wording, then why: the stand-in refuses what it does not implement instead of ignoring it.
    return StripeError(400, f"Received unknown parameter: {param} (this Stripe stand-in does not implement it)",
                       code="parameter_unknown", param=param)


def state_error(message: str, param: str | None = None) -> StripeError:
    return StripeError(400, message, param=param)


DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "live_mode_test_card": "Your card was declined. Your request was in test mode, but used a non test (live) "
                           "card. For a list of valid test cards, visit: https://stripe.com/docs/testing.",
}


def card_error(decline_code: str, param: str | None = None) -> StripeError:
    """402 card_error: `code` card_declined (or expired_card / incorrect_cvc / processing_error, which Stripe
    reports as codes of their own) and the `decline_code`."""
    code = decline_code if decline_code in ("expired_card", "incorrect_cvc", "processing_error") else "card_declined"
    return StripeError(402, DECLINE_MESSAGES.get(decline_code, "Your card was declined."), type="card_error",
                       code=code, param=param, decline_code=decline_code)


def card_input_error(code: str, message: str, param: str) -> StripeError:
    """A card that cannot even be tried (bad number, past expiry): a card_error with no decline_code."""
    return StripeError(402, message, type="card_error", code=code, param=param)
