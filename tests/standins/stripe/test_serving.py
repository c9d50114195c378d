"""Serving: the state kept in --data-dir across restarts, and `comfy-platform stripe-emulator` as `make dev`
runs it (a webhook endpoint and its secret given on the command line)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import stripe

from standins.stripe import StripeConfig, start_stripe
from tests.helpers.ports import free_port
from tests.helpers.webhook_receiver import running_receiver

from .conftest import make_client, subscribe

ROOT = Path(__file__).resolve().parents[3]


async def test_the_state_survives_a_restart_with_a_data_dir(tmp_path):
    config = StripeConfig(data_dir=tmp_path, seed="restart")
    server = await start_stripe("127.0.0.1", 0, config)
    client = make_client(server)
    price = await client.v1.prices.create_async({"product_data": {"name": "Pro"}, "currency": "usd",
                                                 "unit_amount": 1000, "recurring": {"interval": "month"},
                                                 "lookup_key": "pro"})
    creator = await subscribe(client, server, [(price.id, 1)])
    await server.advance(5 * 86400)
    now = await server.now()
    await server.stop()
    assert (tmp_path / "stripe.json").exists() and not (tmp_path / "stripe.json.tmp").exists()

    server = await start_stripe("127.0.0.1", 0, config)
    try:
        client = make_client(server)
        sub = await client.v1.subscriptions.retrieve_async(creator.subscription.id)
        assert sub.status == "active" and sub.customer == creator.customer.id
        assert [p.id for p in (await client.v1.prices.list_async({"lookup_keys": ["pro"]})).data] == [price.id]
        assert await server.now() >= now  # the clock kept its advance
        other = await client.v1.customers.create_async({"email": "after@example.com"})
        assert other.id != creator.customer.id  # ids never repeat
        await server.advance(to="period_end", subscription=sub.id)
        assert len((await client.v1.invoices.list_async({"subscription": sub.id})).data) == 2
    finally:
        await server.stop()


async def wait_until_up(url: str) -> None:
    async with asyncio.timeout(20), httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def test_the_cli_serves_with_a_webhook_endpoint_until_sigterm(tmp_path):
    port = free_port()
    async with running_receiver() as receiver:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "stripe-emulator", "--port", str(port), "--webhook-url", receiver.url,
            "--webhook-secret", "whsec_make_dev", "--webhook-retry-delays", "0.1,0.2", "--data-dir", str(tmp_path),
            "--api-key", "sk_test_dev", cwd=ROOT, env={**os.environ, "LOG_FORMAT": "json"},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}"
            await wait_until_up(url + "/")
            client = stripe.StripeClient("sk_test_dev", base_addresses={"api": url}, max_network_retries=0)
            customer = await client.v1.customers.create_async({"email": "dev@example.com"})
            (received,) = await receiver.wait_for(1)
            event = stripe.Webhook.construct_event(received.body, received.headers["Stripe-Signature"],
                                                   "whsec_make_dev")
            assert event.type == "customer.created" and event.data.object.id == customer.id
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"Stripe TEST STAND-IN (not Stripe) listening on" in stderr
    assert (tmp_path / "stripe.json").exists()


async def test_a_restart_of_the_stand_in_loses_nothing_it_knew(stripe_server, client):
    customer = await client.v1.customers.create_async({"email": "kept@example.com"})
    await stripe_server.stop()
    await stripe_server.start()
    assert (await client.v1.customers.retrieve_async(customer.id)).email == "kept@example.com"


async def test_the_clock_goes_back_to_wall_time_after_a_test_moved_it(stripe_server):
    before = await stripe_server.now()
    await stripe_server.advance(seconds=10 * 24 * 3600)
    assert await stripe_server.now() >= before + 10 * 24 * 3600
    await stripe_server.back_to_wall_time()
    assert await stripe_server.now() < before + 60
