"""Stripe's webhook: every event verified with the SDK against STRIPE_WEBHOOK_SECRET, stored once by its id (an
inbox), and handed to a StripeEventWorkflow named after it, so a redelivered event does nothing twice. The route
answers as soon as the event is safe: what it means is worked out by the workflow, from Stripe's current state."""

from __future__ import annotations

import logging

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.responses import error_responses
from db import billing as billing_queries
from db.session import release_before_calling_out
from services.billing.events import HANDLED_TYPES, hand_over_event

log = logging.getLogger(__name__)
router = APIRouter(tags=["billing"])


@router.post("/webhooks/stripe", summary="Stripe events", include_in_schema=True,
             responses={200: {"description": "the event is stored and handed over (or was before)"},
                        **error_responses(400, 503)})
async def receive_stripe_event(request: Request, session: SessionDep, settings: SettingsDep,
                               temporal: TemporalDep) -> JSONResponse:
    """Called by Stripe. A missing, forged or stale `Stripe-Signature` is 400 and nothing is stored."""
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature", ""),
                                               settings.STRIPE_WEBHOOK_SECRET)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        log.info("refused a Stripe event: %s", exc)
        raise ApiError("the Stripe-Signature header does not verify this body", code="bad_signature") from None
    first_time = await billing_queries.store_event(session, event.id, event.type)
    if event.type not in HANDLED_TYPES:  # the endpoint may be subscribed to more than billing acts on
        if first_time:
            await billing_queries.event_handled(session, event.id, None, f"ignored: {event.type} changes no plan")
        await session.commit()
        return JSONResponse({"received": True, "first_time": first_time})
    customer = event.data.object.to_dict().get("customer")
    account = await billing_queries.account_of_customer(session, customer) if isinstance(customer, str) else None
    await release_before_calling_out(session)
    await hand_over_event(temporal, event, account.id if account else None)
    return JSONResponse({"received": True, "first_time": first_time})
