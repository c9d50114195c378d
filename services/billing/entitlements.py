"""What an account may use right now: its plan as its subscription stands, the current billing period, and what
to tell the person about it. Pure functions over the stored subscription, so the API's hot path asks the
database once and Stripe never.

- No subscription, or one that ended: the default plan, with calendar months as periods.
- Active (including one cancelled at the period's end, which stays active until then): its plan and period.
- Past due (a renewal payment failed): its plan for BILLING_GRACE_DAYS after the failure, with a notice; then the
  default plan. Falling back never deletes work: it only changes what new work may use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.billing.plans import Catalog, Plan

ACTIVE_STATUSES = ("active", "trialing")


@dataclass(frozen=True)
class SubscriptionState:
    """The part of a Stripe subscription the platform keeps (db: subscriptions)."""

    plan: str
    status: str  # Stripe's: active, trialing, past_due, canceled, unpaid, incomplete ...
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool = False
    past_due_since: datetime | None = None


@dataclass(frozen=True)
class Entitlement:
    plan: Plan
    status: str  # free | active | cancelling | past_due | ended
    period_start: datetime
    period_end: datetime
    notice: str | None = None  # for the billing page and the dashboard

    @property
    def paid(self) -> bool:
        return self.plan.paid


def entitlement(subscription: SubscriptionState | None, catalog: Catalog, now: datetime,
                grace: timedelta) -> Entitlement:
    now = now.astimezone(UTC)
    if subscription is not None and subscription.current_period_end is not None:
        plan = _plan_or_default(subscription.plan, catalog)
        start = subscription.current_period_start or subscription.current_period_end - timedelta(days=30)
        end = subscription.current_period_end
        if subscription.status in ACTIVE_STATUSES and now < end + grace:
            if subscription.cancel_at_period_end:
                return Entitlement(plan, "cancelling", start, end,
                                   f"Your {plan.title} plan ends on {end:%d %B %Y}; after that you are on the "
                                   f"{catalog.default.title} plan.")
            return Entitlement(plan, "active", start, end)
        if subscription.status == "past_due":
            failed_at = subscription.past_due_since or end
            if now < failed_at + grace:
                return Entitlement(plan, "past_due", start, end,
                                   f"Your last payment failed. Update your card by "
                                   f"{failed_at + grace:%d %B %Y} to keep the {plan.title} plan.")
    return Entitlement(catalog.default, "free" if subscription is None else "ended", *calendar_month(now))


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) `now` falls in: the periods of an account without a paid subscription."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _plan_or_default(name: str, catalog: Catalog) -> Plan:
    """A subscription to a plan the catalog no longer lists keeps the default plan's limits rather than none."""
    return next((plan for plan in catalog.plans if plan.name == name), catalog.default)
