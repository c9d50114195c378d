"""Why a billing request cannot be done, in words for the person who asked; the API turns them into answers."""

from __future__ import annotations

from datetime import datetime


class BillingError(Exception):
    code = "billing_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class QuotaExceeded(BillingError):
    """The month's included use of a plan that is not billed by use is spent (402)."""

    code = "quota_exceeded"

    def __init__(self, what: str, plan: str, used: int, included: int, period_end: datetime, upgrade: str) -> None:
        super().__init__(f"this month's {included} {what} of the {plan} plan are used; more from "
                         f"{period_end:%d %B %Y}, or upgrade: {upgrade}",
                         plan=plan, used=used, included=included, period_end=period_end.isoformat(), upgrade=upgrade)


class AlreadyOnPlan(BillingError):
    """Checkout for the plan the account has (409)."""

    code = "already_on_plan"


class BillingUnavailable(BillingError):
    """Stripe could not be reached, or billing is not configured (503)."""

    code = "billing_unavailable"
