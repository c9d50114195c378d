"""The creator's settings: the preset's parameters as form fields (from the preset's declared schema), their
values checked as a job would check them, and the emails they get."""

from __future__ import annotations

import re
from typing import Any

from presets import get_preset
from presets.catalog import Preset
from presets.errors import InvalidJobRequest
from presets.templates import get_template

OUTPUT_FOLDER_NAME_MAX = 120


class SettingRefused(Exception):
    """A setting that cannot be saved, said in plain words; `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def preset_fields(preset: Preset) -> list[dict[str, Any]]:
    """The parameters a creator may set, each with what a form control needs: label, kind, bounds, the preset's
    default."""
    template = get_template(preset.template)
    fields = []
    for name in preset.overridable:
        param = template.params[name]
        schema = param.schema()
        fields.append({"name": name, "label": label_of(name), "type": param.type,
                       "default": preset.defaults.get(name, param.default), "min": schema.get("min"),
                       "max": schema.get("max"), "choices": schema.get("choices"),
                       "step": 1 if param.type == "int" else (0.01 if param.type == "float" else None),
                       "optional": name == "seed"})
    return fields


def clean_params(preset_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values a creator set that differ from the preset's defaults, as the preset's job will take them; empty
    ones fall back to the default."""
    preset = get_preset(preset_name)
    template = get_template(preset.template)
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if name not in preset.overridable:
            raise SettingRefused(f"{preset.title} has no setting “{label_of(name)}”", f"preset_params.{name}")
        try:
            value = template.params[name].coerce(value)
        except InvalidJobRequest as exc:
            said = re.sub(rf"^params\.{re.escape(name)}", label_of(name), exc.message)
            raise SettingRefused(said, f"preset_params.{name}") from None
        if value != preset.defaults.get(name, template.params[name].default):
            cleaned[name] = value  # only what differs: a default the preset changes later applies
    return cleaned


def clean_output_folder_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise SettingRefused("the folder for edited photos needs a name", "output_folder_name")
    if len(cleaned) > OUTPUT_FOLDER_NAME_MAX:
        raise SettingRefused(f"the folder name can be at most {OUTPUT_FOLDER_NAME_MAX} characters",
                             "output_folder_name")
    if "/" in cleaned or "\\" in cleaned:
        raise SettingRefused("the folder name cannot contain / or \\", "output_folder_name")
    return cleaned
