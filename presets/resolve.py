"""Turn what a user asked for (preset, template or raw graph) into the concrete graph a job runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from comfy_platform.comfyui.errors import ComfyValidationError
from comfy_platform.comfyui.graph import check_links, check_shape, image_input_names
from comfy_platform.storable import UnstorableValue, check_storable
from presets.catalog import get_preset
from presets.errors import InvalidJobRequest, UnusableContent
from presets.templates import get_template


@dataclass(kw_only=True)
class ResolvedJob:
    graph: dict[str, Any]
    # user's image name -> the file name the graph's loader reads
    image_files: dict[str, str]
    # preset | workflow (a template: the API's word for one, which the jobs table stores) | graph
    source: str
    preset: str | None = None
    template: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


# An input image's name becomes a storage key and a file name on the ComfyUI: one path segment, not dot-led.
IMAGE_NAME_PATTERN = r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,254}$"
_IMAGE_NAME = re.compile(IMAGE_NAME_PATTERN)


def resolve_preset(name: str, params: dict[str, Any], image_names: set[str]) -> ResolvedJob:
    preset = get_preset(name)
    _check_values(params, "params")
    merged = preset.params(params)
    graph, files = get_template(preset.template).render(merged, image_names)
    return ResolvedJob(graph=graph, image_files=files, source="preset", preset=name, template=preset.template,
                       params=merged)


def resolve_template(name: str, params: dict[str, Any], image_names: set[str]) -> ResolvedJob:
    _check_values(params, "params")
    graph, files = get_template(name).render(params, image_names)
    return ResolvedJob(graph=graph, image_files=files, source="workflow", template=name, params=params)


def resolve_graph(graph: Any, image_names: set[str]) -> ResolvedJob:
    """A raw API-format graph: its loaders must read exactly the images given (by file name)."""
    try:
        check_shape(graph)
    except ComfyValidationError as exc:
        raise InvalidJobRequest(exc.message, "graph", exc.details, code="invalid_graph") from None
    _check_values(graph, "graph")
    for name in sorted(image_names):
        if not _IMAGE_NAME.fullmatch(name):
            raise InvalidJobRequest(f"images.{name} is not a usable file name: give one name without '/', '\\' or "
                                    "control characters, not starting with '.'", f"images.{name}",
                                    code="invalid_image_name")
    try:
        check_links(graph)
    except ComfyValidationError as exc:
        raise UnusableContent(exc.message, "graph", exc.details, code="invalid_graph") from None
    wanted = set(image_input_names(graph).values())
    missing = sorted(wanted - image_names)
    if missing:
        raise UnusableContent(f"graph loads image '{missing[0]}' but no image of that name was given",
                              f"images.{missing[0]}", code="missing_image")
    unused = sorted(image_names - wanted)
    if unused:
        raise UnusableContent(f"image '{unused[0]}' is not read by any LoadImage node of the graph",
                              f"images.{unused[0]}", code="unknown_image")
    return ResolvedJob(graph=graph, image_files={name: name for name in image_names}, source="graph")


def _check_values(value: Any, field: str) -> None:
    """The one rule on numbers and strings (comfy_platform.storable), for requests that come in without the API."""
    try:
        check_storable(value, field)
    except UnstorableValue as exc:
        raise InvalidJobRequest(exc.message, exc.field, code="invalid_value") from None
