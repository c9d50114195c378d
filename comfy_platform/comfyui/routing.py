"""Which backends can run a graph, and which of them should take it: pure functions over what each backend lists.

A backend's inventory is what its `/object_info` lists: the node classes installed and, for each model input
(`ckpt_name`, `lora_name` ...), the files it offers. A graph needs every node class it uses and every model file
its loaders name; a backend that lacks one cannot run it (ComfyUI would refuse the prompt as a missing custom node
or a `value_not_in_list`). Only a real ComfyUI's loaded checkpoint is costly to change, so affinity follows the
checkpoint: among capable backends with a free slot, one that ran the same checkpoint last needs no model load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Inputs whose values name model files (a folder of the server's models/), as ComfyUI's loaders call them.
MODEL_INPUTS = frozenset({
    "ckpt_name", "lora_name", "vae_name", "unet_name", "clip_name", "clip_name1", "clip_name2", "clip_name3",
    "control_net_name", "upscale_model_name", "style_model_name", "gligen_name", "hypernetwork_name",
    "model_name", "audio_encoder_name",
})
CHECKPOINT_INPUTS = ("ckpt_name", "unet_name")  # what stays loaded, and costs a load to change


@dataclass(frozen=True)
class Inventory:
    node_classes: frozenset[str]
    models: Mapping[str, frozenset[str]]  # model input name -> the files listed for it

    def as_json(self) -> dict[str, Any]:
        return {"node_classes": sorted(self.node_classes),
                "models": {name: sorted(files) for name, files in sorted(self.models.items())}}

    @classmethod
    def from_json(cls, node_classes: Iterable[str] | None, models: Mapping[str, Iterable[str]] | None) -> Inventory:
        return cls(frozenset(node_classes or ()), {k: frozenset(v) for k, v in (models or {}).items()})


@dataclass(frozen=True)
class Needs:
    node_classes: frozenset[str]
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)
    checkpoint: str | None = None  # the one the graph loads (the first, if several)
    loader_nodes: tuple[str, ...] = ()  # the nodes that load it


@dataclass(frozen=True)
class Backend:
    """A backend as the router sees it: its inventory, whether it answers, and what it loaded last."""

    url: str
    inventory: Inventory
    up: bool = True
    loaded_checkpoint: str | None = None


def inventory_of(object_info: Mapping[str, Any]) -> Inventory:
    models: dict[str, set[str]] = {}
    for info in object_info.values():
        declared = (info or {}).get("input") or {}
        for section in ("required", "optional"):
            for name, spec in (declared.get(section) or {}).items():
                if name in MODEL_INPUTS and isinstance(spec, list) and spec and isinstance(spec[0], list):
                    models.setdefault(name, set()).update(str(f) for f in spec[0])
    return Inventory(frozenset(object_info), {k: frozenset(v) for k, v in models.items()})


def needs_of(graph: Mapping[str, Any]) -> Needs:
    classes: set[str] = set()
    models: dict[str, set[str]] = {}
    checkpoint = None
    loaders: list[str] = []
    for node_id in sorted(graph, key=_node_order):
        node = graph[node_id]
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            continue
        classes.add(node["class_type"])
        for name, value in (node.get("inputs") or {}).items():
            if name in MODEL_INPUTS and isinstance(value, str):
                models.setdefault(name, set()).add(value)
                if name in CHECKPOINT_INPUTS:
                    checkpoint = checkpoint or value
                    loaders.append(node_id)
    return Needs(frozenset(classes), {k: frozenset(v) for k, v in models.items()}, checkpoint, tuple(loaders))


def missing(needs: Needs, inventory: Inventory) -> list[str]:
    """What the backend lacks, in words: "node ImageBlur", "ckpt_name flux1-dev.safetensors"."""
    lacks = [f"node {name}" for name in sorted(needs.node_classes - inventory.node_classes)]
    for name, files in sorted(needs.models.items()):
        lacks += [f"{name} {file}" for file in sorted(files - inventory.models.get(name, frozenset()))]
    return lacks


def capable(needs: Needs, backends: Iterable[Backend]) -> list[Backend]:
    return [backend for backend in backends if not missing(needs, backend.inventory)]


def pick(free: list[str], held: Mapping[str, int], loaded: Mapping[str, str | None], checkpoint: str | None,
         wanted: frozenset[str] = frozenset()) -> str:
    """The backend of `free` (able, answering, with a free slot, in order of preference) a job takes. Without a
    checkpoint (or model-blind): the least busy. Else one that loaded the job's checkpoint last (no load); else
    one whose loaded checkpoint no waiting job `wanted`, nothing loaded first, the least busy first."""
    if checkpoint is None:
        return min(free, key=lambda url: held.get(url, 0))
    affine = [url for url in free if loaded.get(url) == checkpoint]
    if affine:
        return min(affine, key=lambda url: held.get(url, 0))
    return min(free, key=lambda url: (loaded.get(url) in wanted, held.get(url, 0), loaded.get(url) is not None))


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)
