"""How one Stripe stand-in behaves: which keys it accepts, which API version it speaks by default, where
webhooks go and how their retries are spaced, where its state is kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The version stripe-python 16.1.0 pins (stripe._api_version); what a StripeClient sends as Stripe-Version,
# and the account's default version here (events are rendered in it).
DEFAULT_API_VERSION = "2026-10-28.endive"

# Stripe retries a failed webhook for up to three days with exponential backoff; `make dev` keeps the same
# spirit at a human scale, tests pass fractions of a second.
DEFAULT_RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0, 3600.0)


@dataclass
class StripeConfig:
    # Secret keys accepted. Empty: any test-mode key (`sk_test_...` or `rk_test_...`), which is what a
    # developer's .env usually holds.
    api_keys: tuple[str, ...] = ()
    api_version: str = DEFAULT_API_VERSION
    # A webhook endpoint that exists from the start (what `make dev` uses), as if registered in the Dashboard.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_events: tuple[str, ...] = ("*",)
    # Seconds between delivery attempts of one event to one endpoint; after the last one it is given up.
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    delivery_timeout_s: float = 10.0
    # Renewal payments that fail are tried again this many days after the first failure (Stripe's Smart
    # Retries, simplified); after the last one the subscription becomes `after_final_failure`.
    payment_retry_days: tuple[int, ...] = (3, 5, 7)
    after_final_failure: str = "canceled"  # or "unpaid", or "past_due" (leave it)
    # Keep everything in <data_dir>/stripe.json (written atomically on each change) and load it at start.
    data_dir: Path | None = None
    # Base of the hosted pages' URLs (checkout, portal, invoices). None: the address the API request came in on.
    public_url: str | None = None
    # Ids are derived from this seed and a counter, so a run with a fixed seed gives the same ids. None: random.
    seed: str | None = None
    extra: dict = field(default_factory=dict)  # room for tests to pass flags without a new release

    def __post_init__(self) -> None:
        if self.after_final_failure not in ("canceled", "unpaid", "past_due"):
            raise ValueError("after_final_failure must be canceled, unpaid or past_due")
        if any(d < 0 for d in self.retry_delays):
            raise ValueError("retry delays must not be negative")
