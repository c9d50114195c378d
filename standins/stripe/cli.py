"""`python -m standins.stripe` / `comfy-platform stripe-emulator`: run the Stripe stand-in in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..serving import configure_logging
from .config import DEFAULT_API_VERSION, DEFAULT_RETRY_DELAYS, StripeConfig
from .runner import run


def delays(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of seconds, e.g. 1,5,30") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("delays must not be negative")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="standins.stripe",
        description="A Stripe API stand-in (not Stripe) for offline development and tests: customers, prices, "
                    "Checkout, the customer portal, subscriptions, invoices, billing meters and signed webhooks, "
                    "as the stripe Python SDK calls them; hosted pages under /c, /p and /i; controls under "
                    "/_stripe/.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9600)
    parser.add_argument("--api-key", action="append", default=[], metavar="KEY",
                        help="a secret key to accept (repeatable; default: any sk_test_/rk_test_ key)")
    parser.add_argument("--api-version", default=DEFAULT_API_VERSION,
                        help="the account's default API version (default %(default)s)")
    parser.add_argument("--webhook-url", default=None, help="a webhook endpoint that exists from the start")
    parser.add_argument("--webhook-secret", default=None, metavar="whsec_...",
                        help="its signing secret (default: generated and logged)")
    parser.add_argument("--webhook-events", default="*",
                        help="comma-separated event types it listens to (default: all)")
    parser.add_argument("--webhook-retry-delays", type=delays, default=DEFAULT_RETRY_DELAYS, metavar="S,S,...",
                        help="seconds between delivery attempts (default %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the state in DIR/stripe.json across restarts (default: memory only)")
    parser.add_argument("--public-url", default=None,
                        help="base of the hosted pages' URLs when browsers reach the stand-in at another address")
    parser.add_argument("--seed", default=None, help="derive ids from this seed (same seed, same ids)")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.webhook_secret and not args.webhook_secret.startswith("whsec_"):
        build_parser().error("--webhook-secret must start with whsec_")
    config = StripeConfig(
        api_keys=tuple(args.api_key), api_version=args.api_version, webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        webhook_events=tuple(e.strip() for e in args.webhook_events.split(",") if e.strip()) or ("*",),
        retry_delays=args.webhook_retry_delays, data_dir=args.data_dir, public_url=args.public_url, seed=args.seed)
    configure_logging(args.log_level, "stripe-emulator")
    run(args.host, args.port, config)
