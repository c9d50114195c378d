"""Stripe stand-in: a server that answers the requests the stripe Python SDK sends for the calls the
billing product makes (customers, products and prices, Checkout Sessions in subscription mode, the
customer portal, subscriptions, invoices, billing meters and meter events, webhook endpoints and events),
in Stripe's object and error shapes, with hosted checkout, portal and invoice pages and signed webhooks, so
billing can be developed and tested offline. It labels itself as a stand-in; /_stripe/ holds its controls
(clock, card failures, portal actions, webhook delivery, meter events, reset)."""

from .config import DEFAULT_API_VERSION, StripeConfig
from .runner import ControlError, RunningStripe, run, start_stripe
from .server import create_app


def main(argv: list[str] | None = None) -> None:
    from .cli import main as cli_main

    cli_main(argv)


__all__ = ["DEFAULT_API_VERSION", "ControlError", "RunningStripe", "StripeConfig", "create_app", "main", "run",
           "start_stripe"]
