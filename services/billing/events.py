"""Handing a verified Stripe event to the StripeEventWorkflow named after it: once, whatever Stripe redelivers."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from services.billing.errors import BillingUnavailable
from workflows.shared import (
    IO_TASK_QUEUE,
    StripeEventInput,
    stripe_event_workflow_id,
    typed_search_attributes,
)

STRIPE_EVENT_WORKFLOW = "StripeEventWorkflow"
# What the platform learns from: each of these changes what an account's subscription is.
HANDLED_TYPES = ("checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
                 "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed")


async def hand_over_event(temporal: Client, event: Any, account_id: str | None) -> None:
    """Start the event's workflow (or find it started: REJECT_DUPLICATE keeps one run per event id for good)."""
    customer = event.data.object.to_dict().get("customer")
    attributes = {"Product": "billing", **({"UserId": account_id} if account_id else {})}
    try:
        await temporal.start_workflow(
            STRIPE_EVENT_WORKFLOW, StripeEventInput(event_id=event.id, event_type=event.type, customer_id=customer),
            id=stripe_event_workflow_id(event.id), task_queue=IO_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=typed_search_attributes(attributes))
    except WorkflowAlreadyStartedError:
        pass  # handled before: a redelivery
    except (RPCError, RuntimeError) as exc:
        raise BillingUnavailable(f"the event could not be handed over just now ({exc}); Stripe sends it again") \
            from exc
