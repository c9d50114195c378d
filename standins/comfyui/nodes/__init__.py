"""The node registry: class_type -> node class (ComfyUI's NODE_CLASS_MAPPINGS)."""

from __future__ import annotations

from . import image_io, image_ops, masks, standin
from .base import ExecContext, InterruptedByUser, Node, NodeEnv, NodeOutput, input_spec

NODE_CLASSES: dict[str, type[Node]] = {
    **image_io.NODES,
    **image_ops.NODES,
    **masks.NODES,
    **standin.NODES,
}


def object_info(env: NodeEnv, only: str | None = None) -> dict:
    names = [only] if only is not None else list(NODE_CLASSES)
    return {name: NODE_CLASSES[name].info(name, env) for name in names if name in NODE_CLASSES and env.installed(name)}


__all__ = ["NODE_CLASSES", "ExecContext", "InterruptedByUser", "Node", "NodeEnv", "NodeOutput",
           "input_spec", "object_info"]
