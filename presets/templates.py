"""Templates: API-format graphs from comfy_workflows/*.json with typed, bounded parameters bound to node inputs."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from comfy_platform.storable import (
    MAX_NUMBER,
    NUL_FREE_PATTERN,
    UnstorableValue,
    check_storable,
    json_kind,
)
from presets.errors import InvalidJobRequest

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "comfy_workflows"
_TYPES = {"string": str, "int": int, "float": float, "bool": bool}
# How errors name the types: in JSON's words, not Python's.
_WORDS = {"string": "a string", "int": "a whole number", "float": "a number", "bool": "true or false"}


def _number(value: float | None) -> float | int | None:
    """A bound as a person writes it: 150 rather than 150.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    bind: list[tuple[str, str]]
    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None
    max_length: int | None = None
    multiple_of: int | None = None

    def coerce(self, value: Any) -> Any:
        """The value as this parameter's type, or InvalidJobRequest naming the parameter. What it accepts is what
        json_schema() publishes: a float takes any finite number, an int any integral one (JSON Schema counts 3.0
        as an integer)."""
        where = f"params.{self.name}"
        try:
            check_storable(value, where)
        except UnstorableValue as exc:
            raise InvalidJobRequest(exc.message, where, code="invalid_value") from None
        if self.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # fits: check_storable bounds it
        if self.type == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, _TYPES[self.type]) or (self.type != "bool" and isinstance(value, bool)):
            raise InvalidJobRequest(f"{where} must be {self.accepted()}, got {json_kind(value)}", where,
                                    code="invalid_param")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise InvalidJobRequest(f"{where} must be {self.accepted()}, got {value}", where, code="invalid_param")
        if self.multiple_of and value % self.multiple_of:
            raise InvalidJobRequest(f"{where} must be a multiple of {self.multiple_of}, got {value}", where,
                                    code="invalid_param")
        if self.choices is not None and value not in self.choices:
            raise InvalidJobRequest(f"{where} must be one of {', '.join(map(str, self.choices))}; got {value}", where,
                                    code="invalid_param")
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidJobRequest(f"{where} is longer than {self.max_length} characters", where,
                                    code="invalid_param")
        return value

    def accepted(self) -> str:
        """What this parameter takes, in words: "a whole number between 1 and 150", "a number of at least 0"."""
        kind = _WORDS[self.type]
        low, high = (_number(bound) for bound in (self.min, self.max))
        if low is not None and high is not None:
            return f"{kind} between {low} and {high}"
        if low is not None:
            return f"{kind} of at least {low}"
        if high is not None:
            return f"{kind} of at most {high}"
        return kind

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "default": self.default}
        for key in ("min", "max", "choices", "max_length", "multiple_of"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the values coerce() accepts, for the published OpenAPI document."""
        if self.type == "bool":
            return {"type": "boolean", "default": self.default}
        if self.type == "string":
            out: dict[str, Any] = {"type": "string", "default": self.default}
            if self.choices is not None:
                out["enum"] = self.choices
            else:
                out["pattern"] = NUL_FREE_PATTERN
            if self.max_length is not None:
                out["maxLength"] = self.max_length
            return out
        out = {"type": "integer" if self.type == "int" else "number", "default": self.default,
               "minimum": self.min if self.min is not None else -MAX_NUMBER,
               "maximum": self.max if self.max is not None else MAX_NUMBER}
        if self.multiple_of:
            out["multipleOf"] = self.multiple_of
        return out


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    graph: dict[str, Any]
    params: dict[str, Param]
    images: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # image name -> node inputs

    def render(self, params: dict[str, Any], images: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
        """(graph with params applied, image name -> file name its loader reads).

        Every declared image must be given; unknown params and images are refused by name."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise InvalidJobRequest(f"unknown parameter '{unknown[0]}' for workflow '{self.name}'; "
                                    f"known: {', '.join(sorted(self.params))}", f"params.{unknown[0]}",
                                    code="unknown_param")
        missing = sorted(set(self.images) - images)
        extra = sorted(images - set(self.images))
        if missing:
            raise InvalidJobRequest(f"workflow '{self.name}' needs image '{missing[0]}'", f"images.{missing[0]}",
                                    code="missing_image")
        if extra:
            raise InvalidJobRequest(f"workflow '{self.name}' takes no image '{extra[0]}'; it takes "
                                    f"{', '.join(sorted(self.images)) or 'none'}", f"images.{extra[0]}",
                                    code="unknown_image")
        graph = copy.deepcopy(self.graph)
        for name, param in self.params.items():
            value = param.coerce(params[name]) if name in params else param.default
            for node_id, input_name in param.bind:
                graph[node_id]["inputs"][input_name] = value
        file_names = {}
        for name, binds in self.images.items():
            file_names[name] = f"{name}.png"
            for node_id, input_name in binds:
                graph[node_id]["inputs"][input_name] = file_names[name]
        return graph, file_names

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "params": {name: p.schema() for name, p in self.params.items()},
                "images": sorted(self.images)}


def _load(path: Path) -> Template:
    raw = json.loads(path.read_text())
    params = {name: Param(name=name, type=spec["type"], default=spec["default"],
                          bind=[tuple(b) for b in spec["bind"]], min=spec.get("min"), max=spec.get("max"),
                          choices=spec.get("choices"), max_length=spec.get("max_length"),
                          multiple_of=spec.get("multiple_of"))
              for name, spec in raw.get("params", {}).items()}
    images = {name: [tuple(b) for b in spec["bind"]] for name, spec in raw.get("images", {}).items()}
    template = Template(raw["name"], raw.get("description", ""), raw["graph"], params, images)
    for binds in [p.bind for p in params.values()] + list(images.values()):
        for node_id, _ in binds:
            if node_id not in template.graph:
                raise ValueError(f"{path.name}: binding to node {node_id}, which is not in the graph")
    return template


@lru_cache
def _all() -> dict[str, Template]:
    return {t.name: t for t in map(_load, sorted(TEMPLATES_DIR.glob("*.json")))}


def list_templates() -> list[Template]:
    return list(_all().values())


def get_template(name: str) -> Template:
    try:
        return _all()[name]
    except KeyError:
        raise InvalidJobRequest(f"unknown workflow '{name}'; available: {', '.join(sorted(_all()))}", "workflow",
                                code="unknown_workflow") from None
