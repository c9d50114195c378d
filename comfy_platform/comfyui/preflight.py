"""Check a graph against a backend's /object_info before any GPU time is spent on it.

Errors come out in ComfyUI's own node_errors shape, so a caller sees the same details whether our preflight
or ComfyUI's validation caught the problem. A missing model is a `value_not_in_list` on the loader's input.
"""

from __future__ import annotations

import math
from typing import Any

from comfy_platform.comfyui.errors import (
    ComfyValidationError,
    validation_error_from_response,
)
from comfy_platform.comfyui.graph import (
    IMAGE_LOADERS,
    check_links,
    check_shape,
    is_link,
)

# V3 input types whose values carry nested structure; ComfyUI validates them itself.
_OPAQUE_TYPES = {"COMFY_AUTOGROW_V3", "COMFY_DYNAMICCOMBO_V3", "COMFY_MATCHTYPE_V3", "*"}


def preflight(graph: Any, object_info: dict[str, Any], provided_images: set[str] = frozenset()) -> None:
    """Raise ComfyValidationError naming every bad node input; return None when the graph can run."""
    check_shape(graph)
    check_links(graph)
    node_errors: dict[str, Any] = {}
    has_output = False
    for node_id, node in graph.items():
        info = object_info.get(node["class_type"])
        if not info:
            raise ComfyValidationError(
                f"Node '{node['class_type']}' (node {node_id}) is not installed on this ComfyUI",
                {"type": "missing_node_type", "node_id": node_id, "class_type": node["class_type"]})
        has_output = has_output or bool(info.get("output_node"))
        errors = _check_inputs(node, info, graph, object_info, provided_images)
        if errors:
            node_errors[node_id] = {"errors": errors, "class_type": node["class_type"], "dependent_outputs": []}
    if not has_output:
        raise ComfyValidationError("graph has no output node (SaveImage, PreviewImage ...)",
                                   {"type": "prompt_no_outputs"})
    if node_errors:
        raise validation_error_from_response({
            "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
            "node_errors": node_errors})


def _check_inputs(node: dict, info: dict, graph: dict, object_info: dict, provided: set[str]) -> list[dict]:
    errors: list[dict] = []
    declared = info.get("input") or {}
    inputs = node.get("inputs") or {}
    for section in ("required", "optional"):
        for name, spec in (declared.get(section) or {}).items():
            if name not in inputs:
                if section == "required":
                    errors.append(_error("required_input_missing", "Required input is missing", name))
                continue
            value = inputs[name]
            if is_link(value):
                errors.extend(_check_link(name, spec, value, graph, object_info))
            elif not (node["class_type"] in IMAGE_LOADERS and name == "image" and value in provided):
                errors.extend(_check_value(name, spec, value))
    return errors


def _check_link(name: str, spec: list, link: list, graph: dict, object_info: dict) -> list[dict]:
    source = graph.get(str(link[0]))
    if source is None:
        return [_error("exception_during_validation", f"input links to node {link[0]}, which is not in the graph", name)]
    outputs = (object_info.get(source["class_type"]) or {}).get("output") or []
    if not 0 <= link[1] < len(outputs):
        return [_error("exception_during_validation",
                       f"input links to output {link[1]} of node {link[0]}, which has {len(outputs)}", name)]
    expected, received = _type_name(spec), outputs[link[1]]
    if isinstance(received, list):
        received = "COMBO"
    if expected in _OPAQUE_TYPES or received == "*" or expected == received or expected == "COMBO":
        return []
    if set(str(expected).split(",")) & set(str(received).split(",")):
        return []
    return [_error("return_type_mismatch", f"Return type mismatch between linked nodes: {name}, "
                   f"received_type({received}) mismatch input_type({expected})", name)]


def _check_value(name: str, spec: list, value: Any) -> list[dict]:
    kind = _type_name(spec)
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    choices = spec[0] if isinstance(spec[0], list) else options.get("options") if kind == "COMBO" else None
    if choices is not None:
        if value not in choices:
            shown = ", ".join(map(str, choices[:10])) + (" ..." if len(choices) > 10 else "")
            return [_error("value_not_in_list", f"Value not in list: {name}: '{value}' not in [{shown}]", name)]
        return []
    if kind in ("INT", "FLOAT"):
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if kind == "INT" else float(value)  # int(NaN) and int(inf) raise too
            if isinstance(number, float) and not math.isfinite(number):  # NaN passes every min/max check
                raise ValueError
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 400 digits as a FLOAT
            return [_error("invalid_input_type", f"Failed to convert an input value to a {kind} value", name)]
        if "min" in options and number < options["min"]:
            return [_error("value_smaller_than_min", f"Value {number} smaller than min of {options['min']}", name)]
        if "max" in options and number > options["max"]:
            return [_error("value_bigger_than_max", f"Value {number} bigger than max of {options['max']}", name)]
    if kind == "STRING" and not isinstance(value, str):
        return [_error("invalid_input_type", "Failed to convert an input value to a STRING value", name)]
    if kind == "BOOLEAN" and not isinstance(value, bool):
        return [_error("invalid_input_type", "Failed to convert an input value to a BOOLEAN value", name)]
    return []


def _type_name(spec: Any) -> str:
    if isinstance(spec, list) and spec:
        return "COMBO" if isinstance(spec[0], list) else str(spec[0])
    return "*"


def _error(kind: str, message: str, input_name: str) -> dict:
    return {"type": kind, "message": message, "details": input_name, "extra_info": {"input_name": input_name}}
