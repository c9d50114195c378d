"""Turn what a user asked for (preset, template or raw graph) into the concrete graph a job runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comfy_platform.comfyui.errors import ComfyValidationError
from comfy_platform.comfyui.graph import check_shape, image_input_names
from presets.catalog import get_preset
from presets.errors import InvalidJobRequest
from presets.templates import get_template


@dataclass
class ResolvedJob:
    graph: dict[str, Any]
    # user's image name -> the file name the graph's loader reads
    image_files: dict[str, str]
    source: str  # preset | workflow | graph
    preset: str | None = None
    workflow: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def resolve_preset(name: str, params: dict[str, Any], image_names: set[str]) -> ResolvedJob:
    preset = get_preset(name)
    merged = preset.params(params)
    graph, files = get_template(preset.template).render(merged, image_names)
    return ResolvedJob(graph, files, "preset", preset=name, workflow=preset.template, params=merged)


def resolve_template(name: str, params: dict[str, Any], image_names: set[str]) -> ResolvedJob:
    graph, files = get_template(name).render(params, image_names)
    return ResolvedJob(graph, files, "workflow", workflow=name, params=params)


def resolve_graph(graph: Any, image_names: set[str]) -> ResolvedJob:
    """A raw API-format graph: its loaders must read exactly the images given (by file name)."""
    try:
        check_shape(graph)
    except ComfyValidationError as exc:
        raise InvalidJobRequest(exc.message, "graph", exc.details, code="invalid_graph") from None
    wanted = set(image_input_names(graph).values())
    missing = sorted(wanted - image_names)
    if missing:
        raise InvalidJobRequest(f"graph loads image '{missing[0]}' but no image of that name was given",
                                f"images.{missing[0]}", code="missing_image")
    unused = sorted(image_names - wanted)
    if unused:
        raise InvalidJobRequest(f"image '{unused[0]}' is not read by any LoadImage node of the graph",
                                f"images.{unused[0]}", code="unknown_image")
    return ResolvedJob(graph, {name: name for name in image_names}, "graph")
