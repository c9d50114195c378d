"""Pure functions over API-format graphs: shape checks, which nodes run, and input-name rewriting."""

from __future__ import annotations

import hashlib
import re
from graphlib import CycleError, TopologicalSorter
from typing import Any

from comfy_platform.comfyui.errors import ComfyValidationError
from comfy_platform.storable import json_kind

# Node classes whose `image` input names an uploaded input file.
IMAGE_LOADERS = ("LoadImage", "LoadImageMask", "LoadImageOutput")


def is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and isinstance(value[1], int) and not isinstance(value[1], bool))


# Node ids become parts of names (prompt outputs, storage keys): digits as ComfyUI exports them, "12:5" inside
# subgraphs; never a path.
NODE_ID_PATTERN = "^[A-Za-z0-9_:-]{1,64}$"
_NODE_ID = re.compile(NODE_ID_PATTERN)


def check_shape(graph: Any) -> dict[str, Any]:
    """Refuse what ComfyUI would answer with an unexplained 500: not an object, UI format, nodes that are not objects."""
    if not isinstance(graph, dict):
        raise ComfyValidationError(f"graph must be a JSON object of nodes, not {json_kind(graph)}",
                                   {"type": "invalid_graph"})
    if isinstance(graph.get("nodes"), list) and "links" in graph:
        raise ComfyValidationError(
            "graph is a UI-format workflow (it has 'nodes' and 'links'); export it from ComfyUI with "
            "'Export (API)' and send that", {"type": "ui_format_graph"})
    if not graph:
        raise ComfyValidationError("graph has no nodes", {"type": "prompt_no_outputs"})
    for node_id, node in graph.items():
        if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id):
            raise ComfyValidationError(f"graph node id '{node_id}' is not one: use letters, digits, '_', ':' or '-' "
                                       "(at most 64)", {"type": "invalid_graph", "node_id": str(node_id)})
        if not isinstance(node, dict):
            raise ComfyValidationError(f"node {node_id} must be an object with class_type and inputs",
                                       {"type": "invalid_graph", "node_id": node_id})
        if not isinstance(node.get("class_type"), str):
            raise ComfyValidationError(f"node {node_id} has no class_type",
                                       {"type": "missing_node_type", "node_id": node_id})
        if not isinstance(node.get("inputs", {}), dict):
            raise ComfyValidationError(f"node {node_id} inputs must be an object",
                                       {"type": "invalid_graph", "node_id": node_id})
    return graph


def check_links(graph: dict[str, Any]) -> None:
    """Refuse a graph whose links loop (a node feeding itself, or a cycle), which ComfyUI only finds once queued.
    A link to a node that is not in the graph is left to the preflight, which names the input."""
    sources = {node_id: {str(v[0]) for v in (node.get("inputs") or {}).values() if is_link(v) and str(v[0]) in graph}
               for node_id, node in graph.items()}
    try:
        TopologicalSorter(sources).prepare()
    except CycleError as exc:
        flow = exc.args[1]  # [a, b, ..., a], each node feeding the next
        if len(flow) == 2:
            raise ComfyValidationError(f"graph node {flow[0]} is linked to itself",
                                       {"type": "dependency_cycle", "node_id": flow[0], "nodes": flow[:1]}) from None
        raise ComfyValidationError(f"graph has a cycle: {' -> '.join(flow)}",
                                   {"type": "dependency_cycle", "nodes": flow[:-1]}) from None


def nodes_to_execute(graph: dict[str, Any], output_nodes: set[str] | None = None) -> set[str]:
    """The nodes ComfyUI will run: output nodes and their ancestors. Without object_info, sinks count as outputs."""
    if output_nodes is None:
        linked = {str(value[0]) for node in graph.values() if isinstance(node, dict)
                  for value in (node.get("inputs") or {}).values() if is_link(value)}
        output_nodes = {node_id for node_id in graph if node_id not in linked}
    seen: set[str] = set()
    stack = [n for n in output_nodes if n in graph]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph.get(node_id)
        if not isinstance(node, dict):
            continue
        for value in (node.get("inputs") or {}).values():
            if is_link(value) and str(value[0]) in graph:
                stack.append(str(value[0]))
    return seen


# The work a node stands for in a job's progress: a sampler's steps dominate; every other node counts this much.
OTHER_NODE_WEIGHT = 1.0
DEFAULT_STEPS = 20  # ComfyUI's KSampler default, for a sampler whose steps come from a link


def node_weights(graph: dict[str, Any]) -> dict[str, float]:
    """node id -> its share of the work, for the nodes ComfyUI will run: a node with `steps` (a sampler) weighs
    its step count, any other node OTHER_NODE_WEIGHT. Loaders and encoders then move the bar a little, sampling
    moves it most, in proportion to the time it takes."""
    weights = {}
    for node_id in nodes_to_execute(graph):
        node = graph.get(node_id)
        inputs = (node.get("inputs") or {}) if isinstance(node, dict) else {}
        if "steps" in inputs:
            steps = inputs["steps"]
            steps = steps if isinstance(steps, int | float) and not isinstance(steps, bool) else DEFAULT_STEPS
            weights[node_id] = max(OTHER_NODE_WEIGHT, float(steps))
        else:
            weights[node_id] = OTHER_NODE_WEIGHT
    return weights


def image_input_names(graph: dict[str, Any]) -> dict[str, str]:
    """node id -> the input file name its loader reads."""
    return {node_id: node["inputs"]["image"] for node_id, node in graph.items()
            if node.get("class_type") in IMAGE_LOADERS and isinstance(node.get("inputs", {}).get("image"), str)}


def rename_image_inputs(graph: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A copy of `graph` whose loaders read `names[old]` instead of `old` (uploaded names on the backend)."""
    renamed = {}
    for node_id, node in graph.items():
        node = dict(node)
        inputs = dict(node.get("inputs") or {})
        if node.get("class_type") in IMAGE_LOADERS and inputs.get("image") in names:
            inputs["image"] = names[inputs["image"]]
        node["inputs"] = inputs
        renamed[node_id] = node
    return renamed


# --- outputs findable without history ---------------------------------------------------------------------------
# Every output a prompt saves goes under a folder of its own (named by the caller, one per copy queued), one
# subfolder per node: ComfyUI keeps history only in memory, but its output files survive a restart, so a prompt
# that finished just before a restart is recognised by its files instead of being run again.

SAVE_IMAGE = "SaveImage"  # the output node whose file names are known: <name>_<counter:05>_.png, counted per prefix
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def output_folder(copy: str, node_id: str) -> str:
    """The output subfolder of one node of the prompt queued as `copy`."""
    key = node_id if not _SAFE.search(node_id) and len(node_id) <= 32 else hashlib.sha1(node_id.encode()).hexdigest()[:12]
    return f"cp-{copy}/{key}"


def tag_output_prefixes(graph: dict[str, Any], copy: str) -> dict[str, Any]:
    """A copy of `graph` whose saving nodes write under output_folder(copy, node id), keeping their file's name."""
    tagged = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") or {}
        prefix = inputs.get("filename_prefix")
        if isinstance(prefix, str):
            name = _SAFE.sub("", prefix.rsplit("/", 1)[-1].replace("%", "")) or "ComfyUI"
            node = {**node, "inputs": {**inputs, "filename_prefix": f"{output_folder(copy, node_id)}/{name}"}}
        tagged[node_id] = node
    return tagged


def saved_files(graph: dict[str, Any], output_nodes: set[str]) -> dict[str, tuple[str, str]] | None:
    """node id -> (subfolder, file name stem) of every output node of a tagged graph, when all of them are SaveImage
    nodes (whose files can be found without history); None otherwise."""
    found = {}
    for node_id in output_nodes:
        node = graph.get(node_id) or {}
        prefix = (node.get("inputs") or {}).get("filename_prefix")
        if node.get("class_type") != SAVE_IMAGE or not isinstance(prefix, str) or "/" not in prefix:
            return None
        subfolder, stem = prefix.rsplit("/", 1)
        found[node_id] = (subfolder, stem)
    return found or None
