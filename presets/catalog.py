"""Presets: a template, its defaults, which parameters a user may change, and the models it needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from presets.errors import InvalidJobRequest
from presets.templates import get_template

PRESETS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    template: str
    defaults: dict[str, Any]
    overridable: list[str]
    models: list[str]

    def params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Defaults with the user's allowed overrides applied; anything else is refused by name."""
        for name in overrides:
            if name not in self.overridable:
                raise InvalidJobRequest(f"preset '{self.name}' does not let you set '{name}'; you may set "
                                        f"{self.overridable}", f"params.{name}", code="unknown_param")
        return {**self.defaults, **overrides}

    @property
    def photo_input(self) -> str | None:
        """The name of the one image this preset edits; None when its template takes no image or several."""
        images = get_template(self.template).images
        return next(iter(images)) if len(images) == 1 else None

    def describe(self) -> dict[str, Any]:
        template = get_template(self.template)
        return {"name": self.name, "title": self.title, "description": self.description,
                # Each parameter's default is this preset's own, where it sets one.
                "params": {n: {**template.params[n].schema(), "default": self.defaults.get(n, template.params[n].default)}
                           for n in self.overridable},
                "models": self.models}


def _load(path: Path) -> Preset:
    raw = json.loads(path.read_text())
    preset = Preset(raw["name"], raw.get("title", raw["name"]), raw.get("description", ""), raw["template"],
                    raw.get("defaults", {}), raw.get("overridable", []), raw.get("models", []))
    template = get_template(preset.template)
    for name in list(preset.defaults) + preset.overridable:
        if name not in template.params:
            raise ValueError(f"{path.name}: '{name}' is not a parameter of template {template.name}")
    return preset


@lru_cache
def _all() -> dict[str, Preset]:
    return {p.name: p for p in map(_load, sorted(PRESETS_DIR.glob("*.json")))}


def list_presets() -> list[Preset]:
    return list(_all().values())


def get_preset(name: str) -> Preset:
    try:
        return _all()[name]
    except KeyError:
        raise InvalidJobRequest(f"unknown preset '{name}'; available: {', '.join(sorted(_all()))}", "preset",
                                code="unknown_preset") from None
