"""List objects (newest first, `limit`, `starting_after`, `ending_before`, `has_more`) and `expand`.

Expansion is generic: a dotted path walks the rendered object; a string id on the way is replaced by the
object it names, rendered in the request's version; `data.` walks into a list. A field that holds no id is
refused with Stripe's "This property cannot be expanded".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import invalid, no_such
from .params import Params
from .render import list_object, render
from .store import table_of

if TYPE_CHECKING:
    from .state import StripeState


def page(records: list[dict], params: Params, url: str, to_json: Callable[[dict], dict], table: str) -> dict:
    """One page of `records` (already filtered and newest first)."""
    limit = params.int("limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid("limit", "Invalid limit: must be between 1 and 100")
    after, before = params.str("starting_after"), params.str("ending_before")
    ids = [r["id"] for r in records]
    if after is not None:
        if after not in ids:
            raise no_such(table, after, param="starting_after", status=400)
        rest = records[ids.index(after) + 1:]
        chosen, has_more = rest[:limit], len(rest) > limit
    elif before is not None:
        if before not in ids:
            raise no_such(table, before, param="ending_before", status=400)
        rest = records[:ids.index(before)]
        chosen, has_more = rest[-limit:], len(rest) > limit
    else:
        chosen, has_more = records[:limit], len(records) > limit
    return list_object([to_json(r) for r in chosen], url, has_more=has_more)


def created_filter(params: Params) -> Callable[[dict], bool]:
    """`created` as a timestamp or `created[gt|gte|lt|lte]`."""
    exact = params.data.get("created")
    if isinstance(exact, str):
        value = params.int("created")
        return lambda r: r["created"] == value
    bounds = params.sub("created")
    if bounds is None:
        return lambda r: True
    gt, gte, lt, lte = (bounds.int(k) for k in ("gt", "gte", "lt", "lte"))
    return lambda r: ((gt is None or r["created"] > gt) and (gte is None or r["created"] >= gte)
                      and (lt is None or r["created"] < lt) and (lte is None or r["created"] <= lte))


def expand(state: StripeState, body: dict, paths: list[str], version: str) -> dict:
    for path in paths:
        body = _walk(state, body, path.split("."), version, path)
    return body


def _walk(state: StripeState, value: Any, segments: list[str], version: str, path: str) -> Any:
    if not segments:
        return value
    if not isinstance(value, dict):
        raise invalid("expand", f"This property cannot be expanded ({path}).")
    key, rest = segments[0], segments[1:]
    if value.get("object") == "list" and key == "data":
        value["data"] = [_walk(state, item, rest, version, path) for item in value["data"]]
        return value
    if key not in value:
        raise invalid("expand", f"This property cannot be expanded ({path}).")
    child = value[key]
    if child is None:
        return value
    if isinstance(child, str):
        child = resolve(state, child, version)
        if child is None:
            raise invalid("expand", f"This property cannot be expanded ({path}).")
    elif not isinstance(child, dict):
        raise invalid("expand", f"This property cannot be expanded ({path}).")
    value[key] = _walk(state, child, rest, version, path)
    return value


def resolve(state: StripeState, object_id: str, version: str) -> dict | None:
    table = table_of(object_id)
    if table is None:
        return None
    record = state.store.get(table, object_id)
    return render(state, table, record, version) if record is not None else None
