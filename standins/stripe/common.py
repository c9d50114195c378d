"""What every API route needs: its parameters, the objects it names, and answers rendered in the request's
API version. Handlers return a dict (the middleware applies `expand` and sends it) or a web.Response."""

from __future__ import annotations

from aiohttp import web

from .context import current
from .errors import no_such
from .params import Params
from .render import render
from .state import StripeState, state_of


def params(request: web.Request) -> Params:
    """The decoded query (GET, DELETE) or form body (POST), read by the middleware."""
    return Params(current().params)


def version(state: StripeState) -> str:
    return current().version or state.config.api_version


def out(state: StripeState, table: str, record: dict) -> dict:
    return render(state, table, record, version(state))


def get(state: StripeState, table: str, object_id: str) -> dict:
    """The object a URL names, or 404 resource_missing."""
    record = state.store.get(table, object_id)
    if record is None:
        raise no_such(table, object_id)
    return record


def ref(state: StripeState, table: str, object_id: str, param: str) -> dict:
    """The object a parameter names, or 400 resource_missing naming the parameter."""
    record = state.store.get(table, object_id)
    if record is None or record.get("deleted"):
        raise no_such(table, object_id, param=param, status=400)
    return record


def path_id(request: web.Request, name: str = "id") -> str:
    return request.match_info[name]


__all__ = ["get", "out", "params", "path_id", "ref", "state_of", "version"]
