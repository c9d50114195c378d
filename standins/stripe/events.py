"""Events: a snapshot of the object as it is at that moment (rendered in the account's API version), with
`previous_attributes` for `*.updated`, the request that caused it, and one pending delivery per webhook
endpoint that listens to its type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import current
from .render import render

if TYPE_CHECKING:
    from .state import StripeState


def snapshot(state: StripeState, table: str, record: dict) -> dict:
    return render(state, table, record, state.config.api_version)


def emit(state: StripeState, type: str, table: str, record: dict, previous: dict | None = None) -> dict:
    body = snapshot(state, table, record)
    data: dict[str, Any] = {"object": body}
    if previous is not None:
        data["previous_attributes"] = diff(previous, body)
    context = current()
    event = {
        "id": state.ids.new("evt_"), "object": "event", "api_version": state.config.api_version,
        "created": state.clock.now(), "data": data, "livemode": False, "pending_webhooks": 0,
        "request": {"id": context.request_id, "idempotency_key": context.idempotency_key}, "type": type,
    }
    state.store.add("events", event)
    event["pending_webhooks"] = state.webhooks.enqueue(event)
    return event


def diff(before: dict, after: dict) -> dict:
    """The old values of what changed: nested hashes down to the changed keys, lists and scalars whole."""
    changed: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            changed[key] = diff(old, new)
        else:
            changed[key] = old
    return changed
