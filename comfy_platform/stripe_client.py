"""The Stripe client: the real `stripe` SDK, aimed at Stripe or (STRIPE_API_BASE) at the project's test server,
with httpx underneath so its async calls share the event loop."""

from __future__ import annotations

import stripe

from comfy_platform.settings import Settings

# The SDK retries a failed request itself (with Idempotency-Keys, so a POST is never made twice): a blip is not an
# outage. What still fails is an outage, and the caller answers 503 or retries in a workflow.
NETWORK_RETRIES = 2


def stripe_client(settings: Settings) -> stripe.StripeClient | None:
    """None when billing is not configured (no STRIPE_SECRET_KEY): every account then has the default plan."""
    if not settings.STRIPE_SECRET_KEY:
        return None
    base = settings.STRIPE_API_BASE.rstrip("/")
    addresses = {"api": base, "files": base, "connect": base, "meter_events": base} if base else None
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=addresses,
                               max_network_retries=NETWORK_RETRIES, http_client=stripe.HTTPXClient())


def is_outage(exc: Exception) -> bool:
    """Stripe could not be reached or failed on its side: worth a retry, not the caller's fault."""
    return isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        isinstance(exc, stripe.StripeError) and (exc.http_status or 0) >= 500)
