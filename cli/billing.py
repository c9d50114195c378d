"""`comfy-platform billing setup`: make at Stripe what the plans name (a product and price per plan for sale, the
API meters and their metered prices, the portal configuration), where Stripe has none yet. Run once per Stripe
account; `make dev` runs it against its Stripe test server at every start (it changes nothing the second time)."""

from __future__ import annotations

import argparse
import asyncio

from comfy_platform.settings import Settings
from comfy_platform.stripe_client import stripe_client
from db.session import create_engine, create_sessionmaker
from services.billing.stripe_billing import StripeBilling


def run_billing(settings: Settings, args: argparse.Namespace) -> int:
    client = stripe_client(settings)
    if client is None:
        print("billing is not set up: STRIPE_SECRET_KEY is empty")
        return 2
    return asyncio.run(_setup(settings, client))


async def _setup(settings: Settings, client) -> int:
    engine = create_engine(settings.database_url)
    try:
        await StripeBilling(client, create_sessionmaker(engine), settings).ensure_catalog()
    finally:
        await engine.dispose()
    print("Stripe has the products, prices, meters and portal configuration the plans name")
    return 0
