"""`comfy-platform presets` and `comfy-platform templates`: what a job can be built from, with each parameter's
type, bounds and default; `--json` prints the API's own catalog objects (GET /api/v1/presets, /api/v1/workflows)."""

from __future__ import annotations

import json
from typing import Any

from presets import list_presets, list_templates


def run_catalog(kind: str, as_json: bool = False) -> int:
    entries = [item.describe() for item in (list_presets() if kind == "presets" else list_templates())]
    if as_json:
        print(json.dumps({"data": entries, "count": len(entries)}, indent=2))
        return 0
    for entry in entries:
        print(describe(entry))
    return 0


def describe(entry: dict[str, Any]) -> str:
    """One entry as a person reads it: its name and description, then a line per parameter."""
    lines = [f"{entry['name']}: {entry['description']}"]
    if entry.get("images"):
        lines.append(f"  images: {', '.join(entry['images'])}")
    if entry.get("models"):
        lines.append(f"  models: {', '.join(entry['models'])}")
    for name, schema in entry["params"].items():
        lines.append(f"  --param {name}=<{schema['type']}>  {_bounds(schema)}default {_value(schema['default'])}")
    return "\n".join(lines) + "\n"


def _bounds(schema: dict[str, Any]) -> str:
    if "choices" in schema:
        return f"one of {', '.join(map(_value, schema['choices']))}; "
    words = []
    if "min" in schema and "max" in schema:
        words.append(f"{_value(schema['min'])} to {_value(schema['max'])}")
    elif "min" in schema:
        words.append(f"at least {_value(schema['min'])}")
    elif "max" in schema:
        words.append(f"at most {_value(schema['max'])}")
    if "multiple_of" in schema:
        words.append(f"a multiple of {schema['multiple_of']}")
    if "max_length" in schema:
        words.append(f"up to {schema['max_length']} characters")
    return "".join(f"{word}; " for word in words)


def _value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, str | bool) or value is None else str(value)
