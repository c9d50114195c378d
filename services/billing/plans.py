"""The plans people can buy, declared as data (plans.json beside this module, or BILLING_PLANS_FILE): what each
costs (a Stripe price, named by its lookup key), what it includes each month, and its API limits. Code reads
plans through this module and never names one; the default plan is what an account without a paid subscription
has.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

DEFAULT_FILE = Path(__file__).with_name("plans.json")


class Plan(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    title: str
    description: str = ""
    price_lookup_key: str | None  # the Stripe price of its subscription; None: not sold (the default plan)
    monthly_price_cents: int = Field(ge=0)
    creator_photos_per_month: int = Field(ge=0)
    api_images_included_per_month: int = Field(ge=0)
    api_overage: Literal["meter", "refuse"]  # past the included images: billed by use, or 402 quota_exceeded
    api_rate_limit_per_minute: int = Field(gt=0)
    api_max_concurrent_jobs: int = Field(gt=0)

    @property
    def paid(self) -> bool:
        return self.price_lookup_key is not None


class Meter(BaseModel):
    """A Billing Meter API usage is reported to, and the metered price that bills it."""

    event_name: str
    display_name: str
    price_lookup_key: str
    unit_amount_cents: int = Field(ge=0)


class Catalog(BaseModel):
    default_plan: str
    # Stripe takes whole numbers as meter values: GPU time is counted in milliseconds.
    meters: dict[Literal["images", "gpu_milliseconds"], Meter]
    plans: list[Plan]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        names = [plan.name for plan in self.plans]
        if len(set(names)) != len(names):
            raise ValueError("two plans have the same name")
        if self.default_plan not in names:
            raise ValueError(f"default_plan '{self.default_plan}' is not one of the plans")
        if self.plan(self.default_plan).paid:
            raise ValueError("the default plan must not have a price: it is what an account has without paying")
        return self

    def plan(self, name: str) -> Plan:
        for plan in self.plans:
            if plan.name == name:
                return plan
        raise UnknownPlan(name, [p.name for p in self.plans])

    @property
    def default(self) -> Plan:
        return self.plan(self.default_plan)

    def by_price(self, lookup_key: str | None) -> Plan | None:
        """The plan a Stripe price sells, if any."""
        return next((plan for plan in self.plans if lookup_key and plan.price_lookup_key == lookup_key), None)

    @property
    def for_sale(self) -> list[Plan]:
        return [plan for plan in self.plans if plan.paid]


class UnknownPlan(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"there is no plan '{name}'; plans are {', '.join(known)}")
        self.name, self.known = name, known


class InvalidPlansFile(ValueError):
    pass


@cache
def load_catalog(path: str = "") -> Catalog:
    """The plans in `path` (BILLING_PLANS_FILE), or the ones shipped with the platform; refused in plain words if
    the file is wrong, so a deployment with a broken plans file does not start."""
    source = Path(path) if path else DEFAULT_FILE
    try:
        return Catalog.model_validate(json.loads(source.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        raise InvalidPlansFile(f"plans file {source}: {exc}") from None
