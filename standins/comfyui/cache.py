"""Whole-node output cache keyed by input signature, with ComfyUI's "classic" lifetime.

A node's signature is its class, its literal inputs, its IS_CHANGED value and, recursively,
the signatures of the nodes it links to (not its id), so an identical resubmission hits the
cache and replays the same outputs. Like the classic cache, entries not used by the current
prompt are dropped when a new prompt starts, so only what the previous prompt shares with
this one is reused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .nodes import NODE_CLASSES, NodeEnv


def signatures(env: NodeEnv, prompt: dict) -> dict[str, str]:
    """Signature per node id. Runs in a thread: IS_CHANGED may hash files."""
    done: dict[str, str] = {}

    def sig(node_id: str) -> str:
        if node_id in done:
            return done[node_id]
        done[node_id] = "cycle"  # validation rejects cycles; this only guards recursion
        node = prompt[node_id]
        cls = NODE_CLASSES[node["class_type"]]
        parts: dict[str, Any] = {}
        for name, value in sorted(node.get("inputs", {}).items()):
            if isinstance(value, list) and len(value) == 2 and value[0] in prompt:
                parts[name] = ["link", sig(value[0]), value[1]]
            else:
                parts[name] = ["value", value]
        material = [node["class_type"], parts, cls.is_changed(env, node.get("inputs", {}))]
        done[node_id] = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()
        return done[node_id]

    for node_id in prompt:
        sig(node_id)
    return done


class OutputCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple, dict | None]] = {}

    def keep_only(self, keys: set[str]) -> None:
        self._entries = {k: v for k, v in self._entries.items() if k in keys}

    def get(self, key: str) -> tuple[tuple, dict | None] | None:
        return self._entries.get(key)

    def put(self, key: str, outputs: tuple, ui: dict | None) -> None:
        self._entries[key] = (outputs, ui)

    def clear(self) -> None:
        self._entries.clear()
