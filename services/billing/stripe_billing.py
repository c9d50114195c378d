"""Everything the platform asks of Stripe, through the real `stripe` SDK: a customer per account (made once),
Checkout Sessions and Customer Portal sessions, invoices, the subscription as Stripe holds it now, meter events
for API use past a plan's included images, and (make dev, tests) the products, prices and meters the plans name.

A Stripe outage raises BillingUnavailable; the API answers 503, workflows retry."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfy_platform.settings import Settings
from comfy_platform.stripe_client import is_outage
from db import billing as billing_queries
from db import users as user_queries
from db.models import MeterReportStatus, User
from services.billing.errors import AlreadyOnPlan, BillingUnavailable
from services.billing.plans import Catalog, Plan
from services.billing.usage import catalog_of, entitlement_of

log = logging.getLogger(__name__)
T = TypeVar("T")
PORTAL_MARK = "plans"  # the metadata that tells the platform's portal configuration from others
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid")  # a subscription that may charge the customer again


class StripeBilling:
    def __init__(self, client: stripe.StripeClient, sessionmaker: async_sessionmaker[AsyncSession],
                 settings: Settings) -> None:
        self.client, self.sessionmaker, self.settings = client, sessionmaker, settings
        self._prices: dict[str, str] = {}  # lookup key -> price id

    @property
    def catalog(self) -> Catalog:
        return catalog_of(self.settings)

    # --- customers, checkout, portal, invoices ------------------------------------------------------------------

    async def customer_of(self, account: User) -> str:
        """The account's Stripe customer, made on first need and recorded once (a race keeps the first)."""
        if account.stripe_customer_id:
            return account.stripe_customer_id
        customer = await self._call(self.client.v1.customers.create_async(
            {"email": account.email, "name": account.name or account.email, "metadata": {"account_id": account.id}},
            {"idempotency_key": f"customer-{account.id}"}))
        async with self.sessionmaker() as session, session.begin():
            return await billing_queries.set_stripe_customer(session, account.id, customer.id)

    async def checkout(self, account: User, plan: Plan, success_url: str, cancel_url: str) -> str:
        """Where to send the browser to subscribe the account to `plan`: a Checkout Session's page, or, for an
        account already paying for another plan, straight back (`success_url`): its subscription is switched to
        `plan` with its card on file, prorated (Stripe's portal cannot switch a subscription that also carries
        metered prices)."""
        async with self.sessionmaker() as session:
            current = await entitlement_of(session, account.id, self.settings)
            subscription = await billing_queries.get_subscription(session, account.id)
        if current.plan.name == plan.name and current.paid:
            raise AlreadyOnPlan(f"this account is on the {plan.title} plan already; to change it, use "
                                "POST /creator/billing/portal", plan=plan.name)
        if current.paid and subscription is not None:
            await self._switch(subscription.stripe_subscription_id, plan)
            await self.sync_customer(await self.customer_of(account))
            return success_url
        customer = await self.customer_of(account)
        items = await self._items(plan)
        session = await self._call(self.client.v1.checkout.sessions.create_async({
            "mode": "subscription", "customer": customer, "line_items": items, "client_reference_id": account.id,
            "success_url": success_url, "cancel_url": cancel_url, "metadata": {"account_id": account.id, "plan": plan.name},
            "subscription_data": {"metadata": {"account_id": account.id, "plan": plan.name}}}))
        return session.url

    async def portal(self, account: User, return_url: str) -> str:
        customer = await self.customer_of(account)
        session = await self._call(self.client.v1.billing_portal.sessions.create_async(
            {"customer": customer, "return_url": return_url, "configuration": await self._portal_configuration()}))
        return session.url

    async def _portal_configuration(self) -> str:
        """The portal configuration `ensure_catalog` made: switch between the plans for sale, update the card,
        cancel at the period's end, see invoices."""
        listed = await self._call(self.client.v1.billing_portal.configurations.list_async({"limit": 100}))
        for configuration in (c.to_dict() for c in listed.data):
            if (configuration.get("metadata") or {}).get("comfy_platform") == PORTAL_MARK and configuration["active"]:
                return configuration["id"]
        raise BillingUnavailable("Stripe has no portal configuration for the plans (comfy-platform billing setup)")

    async def invoices(self, account: User, limit: int = 12) -> list[dict[str, Any]]:
        if not account.stripe_customer_id:
            return []
        listed = await self._call(self.client.v1.invoices.list_async(
            {"customer": account.stripe_customer_id, "limit": limit}))
        return [{"id": i["id"], "status": i["status"], "amount_paid": i["amount_paid"], "amount_due": i["amount_due"],
                 "currency": i["currency"], "created": _time(i["created"]), "url": i.get("hosted_invoice_url")}
                for i in (invoice.to_dict() for invoice in listed.data)]

    async def _items(self, plan: Plan) -> list[dict[str, Any]]:
        """The prices a subscription to `plan` carries: the plan's, and the meters' when use past it is billed."""
        items: list[dict[str, Any]] = [{"price": await self.price_id(plan.price_lookup_key), "quantity": 1}]
        if plan.api_overage == "meter":
            items += [{"price": await self.price_id(meter.price_lookup_key)} for meter in self.catalog.meters.values()]
        return items

    async def _switch(self, subscription_id: str, plan: Plan) -> None:
        current = (await self._call(self.client.v1.subscriptions.retrieve_async(subscription_id))).to_dict()
        wanted = await self._items(plan)
        wanted_prices = {item["price"] for item in wanted}
        changes: list[dict[str, Any]] = []
        for item in current["items"]["data"]:
            licensed = (item.get("price") or {}).get("recurring", {}).get("usage_type") != "metered"
            if licensed:  # the plan's own price: swapped for the new plan's
                changes.append({"id": item["id"], "price": wanted[0]["price"], "quantity": 1})
            elif item["price"]["id"] not in wanted_prices:
                changes.append({"id": item["id"], "deleted": True})
            wanted_prices.discard(item["price"]["id"])
        changes += [{"price": price} for price in wanted_prices if price != wanted[0]["price"]]
        await self._call(self.client.v1.subscriptions.update_async(subscription_id, {
            "items": changes, "proration_behavior": "create_prorations", "cancel_at_period_end": False,
            "metadata": {"plan": plan.name}}))

    # --- subscription state, read from Stripe ------------------------------------------------------------------

    async def sync_customer(self, customer_id: str) -> tuple[str | None, str]:
        """Store the customer's subscription as Stripe holds it now: (account id, what happened). Events may come
        twice or out of order; reading the current state each time leaves the right one either way."""
        async with self.sessionmaker() as session:
            account = await billing_queries.account_of_customer(session, customer_id)
        if account is None:
            return None, f"customer {customer_id} belongs to no account: ignored"
        listed = await self._call(self.client.v1.subscriptions.list_async(
            {"customer": customer_id, "status": "all", "limit": 20}))
        subscription = _current([s.to_dict() for s in listed.data])
        if subscription is None:
            return account.id, "no subscription"
        item = _plan_item(subscription, self.catalog)
        plan = self.catalog.by_price(_lookup_key(item)) if item is not None else None
        if plan is None:
            return account.id, f"subscription {subscription['id']} sells no plan: ignored"
        start, end = _period(subscription, item)
        async with self.sessionmaker() as session, session.begin():
            saved = await billing_queries.save_subscription(
                session, account.id, stripe_subscription_id=subscription["id"], plan=plan.name,
                status=subscription["status"], current_period_start=start, current_period_end=end,
                cancel_at_period_end=bool(subscription.get("cancel_at_period_end")))
        return account.id, f"{plan.name} {saved.status}" + (" (ends at period end)" if saved.cancel_at_period_end else "")

    async def cancel_subscriptions(self, customer_id: str) -> int:
        """End the customer's live subscriptions at once (account deletion): nothing is charged again. How many
        were ended; a second call finds none."""
        listed = await self._call(self.client.v1.subscriptions.list_async(
            {"customer": customer_id, "status": "all", "limit": 20}))
        live = [s.id for s in listed.data if s.status in LIVE_STATUSES + ("incomplete",)]
        for subscription_id in live:
            await self._call(self.client.v1.subscriptions.cancel_async(subscription_id))
        return len(live)

    # --- metered API use --------------------------------------------------------------------------------------

    async def report_usage(self, job_id: str) -> MeterReportStatus:
        """Bill a succeeded API job's images past its plan's included ones, once: the job id names its meter
        events at Stripe, so a retried report is not billed again."""
        async with self.sessionmaker() as session:
            record = await billing_queries.usage_of_job(session, job_id)
            account = await user_queries.get_user(session, record.user_id) if record and record.user_id else None
            if account is None:
                return MeterReportStatus.NOT_BILLED
            plan = await entitlement_of(session, account.id, self.settings, now=record.created_at)
            before = await billing_queries.api_images_before(session, record, plan.period_start)
        included = plan.plan.api_images_included_per_month
        billable = max(0, before + record.images - included) - max(0, before - included)
        if plan.plan.api_overage != "meter" or billable == 0 or not account.stripe_customer_id:
            await self._save_report(job_id, account.id, MeterReportStatus.NOT_BILLED)
            return MeterReportStatus.NOT_BILLED
        await self._save_report(job_id, account.id, MeterReportStatus.PENDING, billable, record.gpu_seconds)
        timestamp = int(record.created_at.timestamp())
        try:
            for kind, value in (("images", billable), ("gpu_milliseconds", round(record.gpu_seconds * 1000))):
                await self._meter_event(self.catalog.meters[kind].event_name, account.stripe_customer_id, value,
                                        f"{job_id}-{kind}", timestamp)
        except BillingUnavailable as exc:
            await self._save_report(job_id, account.id, MeterReportStatus.PENDING, billable, record.gpu_seconds,
                                    error=exc.message)
            raise
        await self._save_report(job_id, account.id, MeterReportStatus.SENT, billable, record.gpu_seconds)
        return MeterReportStatus.SENT

    async def _meter_event(self, event_name: str, customer: str, value: float, identifier: str, timestamp: int) -> None:
        try:
            await self._call(self.client.v1.billing.meter_events.create_async({
                "event_name": event_name, "identifier": identifier, "timestamp": timestamp,
                "payload": {"stripe_customer_id": customer, "value": str(value)}}))
        except stripe.InvalidRequestError as exc:
            if "identifier" not in str(exc.user_message or exc).lower():
                raise
            log.info("meter event %s was sent before", identifier)  # a retry after Stripe took it: not twice

    async def _save_report(self, job_id: str, account_id: str, status: MeterReportStatus, images: int = 0,
                           gpu_seconds: float = 0.0, error: str | None = None) -> None:
        async with self.sessionmaker() as session, session.begin():
            await billing_queries.save_meter_report(session, job_id, account_id, status=status, images=images,
                                                    gpu_seconds=gpu_seconds, error=error)

    # --- the catalogue at Stripe --------------------------------------------------------------------------------

    async def price_id(self, lookup_key: str) -> str:
        if lookup_key not in self._prices:
            listed = await self._call(self.client.v1.prices.list_async({"lookup_keys": [lookup_key], "limit": 1}))
            if not listed.data:
                raise BillingUnavailable(f"Stripe has no price with lookup key '{lookup_key}' (see plans.json)")
            self._prices[lookup_key] = listed.data[0].id
        return self._prices[lookup_key]

    async def ensure_catalog(self) -> None:
        """Make the products, prices and meters the plans name, where Stripe has none yet (make dev and tests run
        on the Stripe test server; a live account is set up once, the same way: `comfy-platform billing setup`)."""
        listed = await self._call(self.client.v1.billing.meters.list_async({"limit": 100}))
        meters = {m.event_name: m for m in listed.data}
        for meter in self.catalog.meters.values():
            if meter.event_name not in meters:
                meters[meter.event_name] = await self._call(self.client.v1.billing.meters.create_async({
                    "display_name": meter.display_name, "event_name": meter.event_name,
                    "default_aggregation": {"formula": "sum"},
                    "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
                    "value_settings": {"event_payload_key": "value"}}))
            await self._ensure_price(meter.price_lookup_key, meter.display_name, meter.unit_amount_cents,
                                     {"usage_type": "metered", "interval": "month",
                                      "meter": meters[meter.event_name].id})
        for plan in self.catalog.for_sale:
            await self._ensure_price(plan.price_lookup_key, f"{plan.title} plan", plan.monthly_price_cents,
                                     {"interval": "month"})
        await self._ensure_portal()

    async def _ensure_portal(self) -> None:
        listed = await self._call(self.client.v1.billing_portal.configurations.list_async({"limit": 100}))
        if any((c.to_dict().get("metadata") or {}).get("comfy_platform") == PORTAL_MARK for c in listed.data):
            return
        products = []
        for plan in self.catalog.for_sale:
            price = await self._call(self.client.v1.prices.retrieve_async(await self.price_id(plan.price_lookup_key)))
            products.append({"product": price.product, "prices": [price.id]})
        await self._call(self.client.v1.billing_portal.configurations.create_async({
            "business_profile": {"headline": "Comfy Platform plans"},
            "features": {"subscription_update": {"enabled": True, "products": products,
                                                 "default_allowed_updates": ["price"],
                                                 "proration_behavior": "create_prorations"},
                         "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
                         "payment_method_update": {"enabled": True}, "invoice_history": {"enabled": True}},
            "metadata": {"comfy_platform": PORTAL_MARK}}))

    async def _ensure_price(self, lookup_key: str, name: str, unit_amount: int, recurring: dict[str, Any]) -> None:
        listed = await self._call(self.client.v1.prices.list_async({"lookup_keys": [lookup_key], "limit": 1}))
        if listed.data:
            return
        product = await self._call(self.client.v1.products.create_async({"name": name}))
        await self._call(self.client.v1.prices.create_async({
            "product": product.id, "currency": "usd", "unit_amount": unit_amount, "lookup_key": lookup_key,
            "recurring": recurring}))

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except stripe.StripeError as exc:
            if is_outage(exc):
                raise BillingUnavailable(f"Stripe did not answer: {exc.user_message or type(exc).__name__}") from exc
            raise


def _current(subscriptions: list[dict]) -> dict | None:
    """The subscription that decides the plan: a live one (newest first), else the newest ended one."""
    live = [s for s in subscriptions if s["status"] in LIVE_STATUSES]
    chosen = live or list(subscriptions)
    return max(chosen, key=lambda s: s["created"]) if chosen else None


def _plan_item(subscription: Any, catalog: Catalog) -> Any:
    for item in subscription["items"]["data"]:
        if catalog.by_price(_lookup_key(item)) is not None:
            return item
    return None


def _lookup_key(item: Any) -> str | None:
    return (item.get("price") or {}).get("lookup_key")


def _period(subscription: Any, item: Any) -> tuple[datetime | None, datetime | None]:
    # Newer API versions keep the period on the items; older ones on the subscription.
    start = item.get("current_period_start") or subscription.get("current_period_start")
    end = item.get("current_period_end") or subscription.get("current_period_end")
    return _time(start), _time(end)


def _time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None
