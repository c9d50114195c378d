"""Templates (ComfyUI graphs with declared parameters, in comfy_workflows/) and presets built on them."""

from presets.catalog import Preset, get_preset, list_presets
from presets.errors import InvalidJobRequest
from presets.resolve import ResolvedJob, resolve_graph, resolve_preset, resolve_template
from presets.templates import Template, get_template, list_templates

__all__ = [
    "InvalidJobRequest",
    "Preset",
    "ResolvedJob",
    "Template",
    "get_preset",
    "get_template",
    "list_presets",
    "list_templates",
    "resolve_graph",
    "resolve_preset",
    "resolve_template",
]
