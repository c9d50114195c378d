"""/v1/webhook_endpoints (create, which answers the `secret` once; retrieve, list, update, delete) and
/v1/events (list with `type`, `types`, `created`; retrieve). Events are kept for the stand-in's lifetime
(Stripe keeps 30 days)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from aiohttp import web

from .common import get, out, params, path_id, state_of, version
from .errors import invalid
from .lists import created_filter, page
from .params import merge_metadata
from .render import webhook_endpoint


def read_events(p) -> list[str]:
    events = p.strings("enabled_events")
    for index, name in enumerate(events):
        if name != "*" and "." not in name:
            raise invalid(f"enabled_events[{index}]", f"Invalid enabled_events[{index}]: {name} is not an event type.")
    return events


def check_url(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise invalid("url", "Invalid URL: must be an http(s) URL.", code="url_invalid")


async def create(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    url = p.str("url", required=True)
    if not p.has("enabled_events"):
        p.str("enabled_events", required=True)
    events = read_events(p)
    description, metadata, api_version = p.str("description"), p.metadata() or {}, p.str("api_version")
    p.done()
    check_url(url)
    endpoint = state.store.add("webhook_endpoints", {
        "id": state.ids.new("we_"), "created": state.now(), "url": url, "enabled_events": events,
        "secret": state.ids.new("whsec_"), "status": "enabled", "description": description, "metadata": metadata,
        "api_version": api_version})
    return webhook_endpoint(state, endpoint, version(state), with_secret=True)


async def retrieve(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "webhook_endpoints", get(state, "webhook_endpoints", path_id(request)))


async def update(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    endpoint = get(state, "webhook_endpoints", path_id(request))
    url = p.str("url")
    events = read_events(p) if p.has("enabled_events") else None
    disabled = p.bool("disabled")
    description, metadata = p.str("description"), p.metadata()
    p.done()
    if url is not None:
        check_url(url)
        endpoint["url"] = url
    if events is not None:
        endpoint["enabled_events"] = events
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    if description is not None:
        endpoint["description"] = description
    endpoint["metadata"] = merge_metadata(endpoint["metadata"], metadata)
    return out(state, "webhook_endpoints", endpoint)


async def delete(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    endpoint = get(state, "webhook_endpoints", path_id(request))
    p.done()
    del state.store.webhook_endpoints[endpoint["id"]]
    state.webhooks.drop_endpoint(endpoint["id"])
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


async def list_endpoints(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    records = state.store.newest_first("webhook_endpoints")
    body = page(records, p, "/v1/webhook_endpoints", lambda r: out(state, "webhook_endpoints", r),
                "webhook_endpoints")
    p.done()
    return body


async def retrieve_event(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "events", get(state, "events", path_id(request)))


async def list_events(request: web.Request) -> dict:
    """`type` may use a `*` wildcard (`customer.subscription.*`), as on Stripe."""
    state, p = state_of(request), params(request)
    kind, kinds = p.str("type"), p.strings("types")
    if kind and kinds:
        raise invalid("types", "You may only specify one of these parameters: type, types.")
    in_range = created_filter(p)
    patterns = [kind] if kind else kinds
    records = [e for e in state.store.newest_first("events")
               if (not patterns or any(fnmatchcase(e["type"], pattern) for pattern in patterns)) and in_range(e)]
    body = page(records, p, "/v1/events", lambda r: out(state, "events", r), "events")
    p.done()
    return body


ROUTES = [
    ("POST", "/v1/webhook_endpoints", create),
    ("GET", "/v1/webhook_endpoints", list_endpoints),
    ("GET", "/v1/webhook_endpoints/{id}", retrieve),
    ("POST", "/v1/webhook_endpoints/{id}", update),
    ("DELETE", "/v1/webhook_endpoints/{id}", delete),
    ("GET", "/v1/events", list_events),
    ("GET", "/v1/events/{id}", retrieve_event),
]
