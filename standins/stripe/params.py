"""Stripe's request parameters: form bodies and query strings in the bracket syntax the SDK writes
(`line_items[0][price]=price_1`, `expand[0]=subscription`; browsers and curl also write `expand[]=x`), read
into nested dicts, and an accessor that checks types the way Stripe words its errors.

Every handler reads the parameters it supports through a Params and ends with `done()`: anything left
unread is refused as Stripe refuses an unknown parameter, so a parameter the stand-in does not implement is
a loud 400 instead of being silently ignored. `expand` is always allowed (the middleware applies it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid, missing_param, unknown_param

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def decode(pairs: Iterable[tuple[str, str]]) -> dict:
    """Pairs as sent, in order, into nested dicts; `[]` appends (a dict keyed "0", "1", ... like `[0]`)."""
    root: dict = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        segments = [head] + (_SEGMENT.findall("[" + rest) if rest else [])
        node = root
        for i, segment in enumerate(segments):
            last = i == len(segments) - 1
            if segment == "":
                segment = str(len(node))
            if last:
                node[segment] = value
            else:
                child = node.get(segment)
                if not isinstance(child, dict):
                    child = node[segment] = {}
                node = child
    return root


def decode_query(query: str) -> dict:
    return decode(parse_qsl(query, keep_blank_values=True))


def path_name(path: tuple[str, ...]) -> str:
    return path[0] + "".join(f"[{p}]" for p in path[1:])


def _leaves(node: Any, path: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, path + (key,))
    elif path:
        yield path


class Params:
    """A view of the decoded parameters at `path`; reads are recorded in the shared `seen` set."""

    def __init__(self, data: dict, path: tuple[str, ...] = (), seen: set | None = None) -> None:
        self.data, self.path = data, path
        self.seen: set[tuple[str, ...]] = seen if seen is not None else set()

    def _name(self, key: str) -> str:
        return path_name(self.path + (key,))

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.seen.add(self.path + (key,))
        return self.data.get(key)

    def str(self, key: str, *, required: bool = False, choices: Iterable[str] | None = None,
            empty_is_none: bool = True) -> str | None:
        value = self.raw(key)
        if value is None or (empty_is_none and value == ""):
            if required:
                raise missing_param(self._name(key))
            return None
        if not isinstance(value, str):
            raise invalid(self._name(key), f"Invalid string: {self._name(key)} must be a string, not an object.")
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                raise invalid(self._name(key), f"Invalid {self._name(key)}: must be one of {_one_of(allowed)}")
        return value

    def int(self, key: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self.str(key, required=required)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise invalid(self._name(key), f"Invalid integer: {value}", code="parameter_invalid_integer") from None
        if minimum is not None and number < minimum:
            raise invalid(self._name(key), f"Invalid {self._name(key)}: must be greater than or equal to {minimum}")
        return number

    def bool(self, key: str) -> bool | None:
        value = self.str(key)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise invalid(self._name(key), f"Invalid boolean: {value}")
        return value == "true"

    def sub(self, key: str, *, required: bool = False) -> Params | None:
        """A nested hash (`recurring[interval]`); None when absent or sent empty (Stripe's way to unset)."""
        value = self.data.get(key)
        if value is None or value == "":
            self.seen.add(self.path + (key,))
            if required:
                raise missing_param(self._name(key))
            return None
        if not isinstance(value, dict):
            raise invalid(self._name(key), f"Invalid object: {self._name(key)} must be a hash.")
        return Params(value, self.path + (key,), self.seen)

    def list(self, key: str, *, required: bool = False) -> list[Any]:
        """An array (`items[0][price]`, `lookup_keys[0]`): plain values, or Params for hashes."""
        value = self.data.get(key)
        if not isinstance(value, dict):  # absent, unset or a scalar: read whole (items mark themselves)
            self.seen.add(self.path + (key,))
        if value is None or value == "":
            if required:
                raise missing_param(self._name(key))
            return []
        if not isinstance(value, dict) or not all(k.isdigit() for k in value):
            raise invalid(self._name(key), f"Invalid array: {self._name(key)} must be an array.")
        out: list[Any] = []
        for index in sorted(value, key=int):
            item = value[index]
            if isinstance(item, dict):
                out.append(Params(item, self.path + (key, index), self.seen))
            else:
                self.seen.add(self.path + (key, index))
                out.append(item)
        return out

    def strings(self, key: str) -> list[str]:
        values = self.list(key)
        if any(not isinstance(v, str) for v in values):
            raise invalid(self._name(key), f"Invalid array: {self._name(key)} must be an array of strings.")
        return values

    def metadata(self, key: str = "metadata") -> dict[str, str] | None:
        """A metadata hash as sent: None if absent, {} when sent empty (clear all), "" values delete keys."""
        self.seen.add(self.path + (key,))
        value = self.data.get(key)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
            raise invalid(self._name(key), "Invalid hash: metadata values must be strings.")
        return dict(value)

    def done(self) -> None:
        """Refuse the first parameter that no read covered."""
        for leaf in _leaves(self.data, self.path):
            if not self.path and leaf[:1] == ("expand",):
                continue
            if not any(leaf[:len(s)] == s for s in self.seen):
                raise unknown_param(path_name(leaf))


def from_json(value: Any) -> Any:
    """A JSON body (the /_stripe/ controls) as if it had been form-encoded: lists become index-keyed
    hashes, booleans "true"/"false", numbers strings; so the same Params code reads both."""
    if isinstance(value, dict):
        return {str(k): from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): from_json(v) for i, v in enumerate(value)}
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    if update is None:
        return current
    if update == {}:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def expand_paths(data: dict) -> list[str]:
    value = data.get("expand")
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [v for _, v in sorted(value.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
            if isinstance(v, str)]


def _one_of(values: list[str]) -> str:
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + ", or " + values[-1]
