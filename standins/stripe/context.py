"""What the request being handled says about itself: its id, its Idempotency-Key, the API version to answer
in, the address it came in on and its parameters. Events record the first two as `request`; renderings use the version;
hosted pages' URLs use the address. Work that no request caused (renewals at a clock tick, a customer on a
hosted page) runs with the defaults: no request id, the account's API version."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    request_id: str | None = None
    idempotency_key: str | None = None
    version: str | None = None  # None: the account's default version
    base_url: str | None = None
    params: dict = field(default_factory=dict)  # the decoded query or form body of an API request


CONTEXT: ContextVar[RequestContext] = ContextVar("stripe_request", default=RequestContext())


def current() -> RequestContext:
    return CONTEXT.get()
