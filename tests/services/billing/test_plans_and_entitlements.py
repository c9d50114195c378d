"""Plans as data and what an account may use: a paid plan while its subscription is active, to the period's end
when cancelled, for the grace after a failed payment, and the default plan otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.billing.entitlements import SubscriptionState, calendar_month, entitlement
from services.billing.plans import InvalidPlansFile, UnknownPlan, load_catalog

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=7)


@pytest.fixture
def catalog():
    return load_catalog()


def subscription(status="active", plan="creator", start=NOW - timedelta(days=3), end=NOW + timedelta(days=27),
                 **more) -> SubscriptionState:
    return SubscriptionState(plan=plan, status=status, current_period_start=start, current_period_end=end, **more)


def test_the_shipped_plans_have_a_free_default_and_paid_plans_with_prices(catalog):
    assert not catalog.default.paid
    assert {plan.name for plan in catalog.for_sale} >= {"creator", "pro"}
    assert all(plan.price_lookup_key for plan in catalog.for_sale)
    assert catalog.by_price("pro_monthly").name == "pro"


def test_an_unknown_plan_is_named_with_the_ones_there_are(catalog):
    with pytest.raises(UnknownPlan, match="there is no plan 'gold'; plans are free, creator, pro"):
        catalog.plan("gold")


def test_a_plans_file_without_its_default_plan_is_refused_in_plain_words(tmp_path):
    path = tmp_path / "plans.json"
    data = json.loads(load_catalog().model_dump_json())
    data["default_plan"] = "creator"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidPlansFile, match="default plan must not have a price"):
        load_catalog(str(path))


def test_no_subscription_is_the_default_plan_by_calendar_month(catalog):
    got = entitlement(None, catalog, NOW, GRACE)
    assert (got.plan.name, got.status) == ("free", "free")
    assert (got.period_start, got.period_end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_an_active_subscription_gives_its_plan_for_its_period(catalog):
    got = entitlement(subscription(), catalog, NOW, GRACE)
    assert (got.plan.name, got.status, got.notice) == ("creator", "active", None)
    assert got.period_end == NOW + timedelta(days=27)


def test_a_subscription_cancelled_at_period_end_stays_until_then_with_a_notice(catalog):
    got = entitlement(subscription(cancel_at_period_end=True), catalog, NOW, GRACE)
    assert (got.plan.name, got.status) == ("creator", "cancelling")
    assert "ends on 03 January 2027" in got.notice
    ended = entitlement(subscription(status="canceled", cancel_at_period_end=True), catalog, NOW, GRACE)
    assert (ended.plan.name, ended.status) == ("free", "ended")


def test_past_due_keeps_the_plan_for_the_grace_then_falls_back(catalog):
    failed = NOW - timedelta(days=2)
    within = entitlement(subscription(status="past_due", past_due_since=failed), catalog, NOW, GRACE)
    assert (within.plan.name, within.status) == ("creator", "past_due")
    assert "by 12 December 2026" in within.notice
    after = entitlement(subscription(status="past_due", past_due_since=failed), catalog, NOW + timedelta(days=6),
                        GRACE)
    assert (after.plan.name, after.status) == ("free", "ended")


def test_a_subscription_to_a_plan_no_longer_listed_gets_the_default_limits(catalog):
    assert entitlement(subscription(plan="legacy-gold"), catalog, NOW, GRACE).plan.name == "free"


def test_calendar_months_roll_over_the_year():
    assert calendar_month(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))[1] == datetime(2027, 1, 1, tzinfo=UTC)
