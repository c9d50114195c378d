"""The `fields` parameter (partial responses): parse, check against Drive's schemas, project.

Syntax: `a, b/c, files(id, name, parents), *`. A selector names a property; `x(y, z)` and `x/y`
pick sub-properties (of each item, for lists). Names are checked against the schemas of the
discovery document google-api-python-client bundles, so a typo answers 400 as Google does
instead of silently returning less. Without `fields` Google returns a short default set, and
the routes pass those defaults in: a client that forgets to ask for a field does not get it here
either.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from googleapiclient.discovery_cache import get_static_doc

from .errors import ApiError

Tree = dict[str, "Tree | None"]  # name -> sub-selection, None = the whole value

DEFAULT_FILE = "kind,id,name,mimeType"
DEFAULT_FILE_LIST = f"kind,incompleteSearch,nextPageToken,files({DEFAULT_FILE})"
DEFAULT_CHANGE_LIST = ("kind,nextPageToken,newStartPageToken,"
                       f"changes(kind,changeType,time,removed,fileId,file({DEFAULT_FILE}))")
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\*|[(),/])")


@functools.cache
def _schemas() -> dict[str, dict]:
    return json.loads(get_static_doc("drive", "v3"))["schemas"]


def _bad(text: str) -> ApiError:
    return ApiError(400, "invalidParameter", f"Invalid field selection {text}", location="fields")


def parse(text: str) -> Tree:
    tokens = _tokens(text)
    try:
        tree, pos = _selection(tokens, 0, text)
    except RecursionError:  # nested too deeply to parse
        raise _bad(text) from None
    if pos != len(tokens):
        raise _bad(text)
    return tree


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise _bad(text)
            break
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _selection(tokens: list[str], pos: int, text: str) -> tuple[Tree, int]:
    tree: Tree = {}
    while pos < len(tokens) and tokens[pos] != ")":
        if tokens[pos] == ",":
            pos += 1
            continue
        path = [tokens[pos]]
        pos += 1
        while pos + 1 < len(tokens) and tokens[pos] == "/":
            path.append(tokens[pos + 1])
            pos += 2
        sub: Tree | None = None
        if pos < len(tokens) and tokens[pos] == "(":
            sub, pos = _selection(tokens, pos + 1, text)
            if pos >= len(tokens) or tokens[pos] != ")":
                raise _bad(text)
            pos += 1
        if any(not name or name in "(),/" for name in path):
            raise _bad(text)
        _merge(tree, path, sub)
    return tree, pos


def _merge(tree: Tree, path: list[str], sub: Tree | None) -> None:
    for name in path[:-1]:
        child = tree.setdefault(name, {})
        if child is None:
            return  # already selected whole
        tree = child
    last = path[-1]
    if last in tree and (tree[last] is None or sub is None):
        tree[last] = None
    elif last in tree:
        tree[last].update(sub)  # type: ignore[union-attr]
    else:
        tree[last] = sub


def check(tree: Tree, schema: str, text: str) -> None:
    """400 for a name the schema does not have (Google's 'Invalid field selection')."""
    properties = _schemas()[schema]["properties"]
    for name, sub in tree.items():
        if name == "*":
            continue
        prop = properties.get(name)
        if prop is None:
            raise _bad(name)
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        if sub and ref:
            check(sub, ref, text)


def select(text: str | None, default: str, schema: str) -> Tree:
    tree = parse(default if text is None else text)
    check(tree, schema, text or default)
    return tree


def project(value: Any, tree: Tree | None) -> Any:
    if tree is None:
        return value
    if isinstance(value, list):
        return [project(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    out = dict(value) if "*" in tree else {}
    for name, sub in tree.items():
        if name != "*" and name in value:
            out[name] = project(value[name], sub)
    return out
