"""One rule for every value a request brings, whatever the database: numbers fit a 64-bit float, strings hold no
NUL and no lone UTF-16 surrogate.

Why: PostgreSQL's JSON and text columns refuse such values (the request died as a 500), while SQLite takes them
and something later goes wrong (a NaN in metadata quietly became null, `cfg: NaN` reached the GPU, a lone
surrogate failed the job at run time). Refusing them by name before anything is stored makes both the same.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

# The largest finite double. JSON parsers read "1e400" as infinity, and an integer beyond this cannot become a
# FLOAT input at all.
MAX_NUMBER = sys.float_info.max
# The string rule as the published JSON Schema states it (a schema cannot speak of lone surrogates; JSON
# generators do not produce them).
NUL_FREE_PATTERN = "^[^\\u0000]*$"
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnstorableValue(ValueError):
    """`field` (a dotted path such as "metadata.note" or "graph.5.inputs.width") holds a value no database keeps."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field} {why}")
        self.field = field
        self.message = f"{field} {why}"


def check_storable(value: Any, field: str = "") -> None:
    """Raise UnstorableValue naming the first offending value inside `value` (any JSON value), without recursion.
    `field` is where `value` sits; "" for a whole request body, whose keys are then the fields' names."""
    stack = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float | int):
            _check_number(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(str(key), where or "body", key=True)
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}.{index}" if where else str(index)) for index, child in enumerate(item))


def check_text(text: str, field: str, *, key: bool = False) -> None:
    """Refuse NUL and lone surrogates in a string value, or (key=True) in a key of the object at `field`."""
    whose = "has a key that " if key else ""
    if "\x00" in text:
        raise UnstorableValue(field, f"{whose}contains a NUL character (\\u0000), which cannot be stored")
    # isascii() is O(1) in CPython, so the usual ASCII string (a base64 image) is not scanned a second time.
    if not text.isascii() and _SURROGATE.search(text):
        raise UnstorableValue(field, f"{whose}contains a lone UTF-16 surrogate, which is not valid Unicode")


def _check_number(number: float | int, field: str) -> None:
    if isinstance(number, float) and not math.isfinite(number):
        raise UnstorableValue(field, "must be a finite number (NaN and Infinity are not JSON numbers, and JSON "
                                     "parsers read 1e400 as Infinity)")
    if abs(number) > MAX_NUMBER:  # an int compares exactly, however many digits it has
        raise UnstorableValue(field, "is out of range: numbers go up to 1.8e308 either way (what a 64-bit "
                                     "floating-point number holds)")


def json_kind(value: Any) -> str:
    """A value's JSON type in plain words, for messages ("got a string"), never Python's ("got str")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list | tuple) else "an object"
