"""What a node is in the emulator, and what it may ask of the executor while it runs.

Nodes mirror ComfyUI's V1 node classes: INPUT_TYPES-style specs, RETURN_TYPES, OUTPUT_NODE.
Synchronous `run` methods do Pillow work and are sent to a thread by the executor so the
event loop keeps serving HTTP/WS; `async def run` is for nodes that report progress.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from PIL import Image

from ..config import EmulatorConfig
from ..files import DataDirs

MAX_RESOLUTION = 16384

Batch = list[Image.Image]  # IMAGE: a batch of RGB images; MASK: a batch of "L" images


class InterruptedByUser(Exception):
    """Raised by ctx.check_interrupt(); ComfyUI's InterruptProcessingException."""


@dataclass
class NodeEnv:
    """What node specs depend on: live folder listings and configured fake models; and the one checkpoint
    loaded now (a real ComfyUI keeps the last prompt's models in memory)."""

    dirs: DataDirs
    config: EmulatorConfig
    loaded_checkpoint: str | None = None

    def installed(self, class_type: str) -> bool:
        return self.config.node_classes is None or class_type in self.config.node_classes


@dataclass
class NodeOutput:
    outputs: tuple
    ui: dict | None = None


@dataclass
class ExecContext:
    env: NodeEnv
    node_id: str
    prompt_id: str
    prompt: dict
    extra_data: dict
    latency_s: float
    model_load_s: float = 0.0
    # Provided by the executor; async so progress frames go out in order with other events.
    progress: Callable[[int, int], Awaitable[None]] = field(repr=False, default=None)  # type: ignore[assignment]
    preview: Callable[[bytes], Awaitable[None]] = field(repr=False, default=None)  # type: ignore[assignment]
    is_interrupted: Callable[[], bool] = field(repr=False, default=lambda: False)
    # Called with the seconds spent when a node loaded a model (the stats count loads per prompt).
    model_loaded: Callable[[float], None] = field(repr=False, default=lambda seconds: None)

    def check_interrupt(self) -> None:
        if self.is_interrupted():
            raise InterruptedByUser()


def INT(default: int, lo: int, hi: int, step: int = 1, **extra: Any) -> tuple:
    return ("INT", {"default": default, "min": lo, "max": hi, "step": step, **extra})


def FLOAT(default: float, lo: float, hi: float, step: float = 0.01, **extra: Any) -> tuple:
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step, **extra})


class Node(ABC):
    """Base class: subclasses set the class attributes and implement input_types() and run()."""

    DISPLAY_NAME: str = ""
    CATEGORY: str = "image"
    DESCRIPTION: str = ""
    PYTHON_MODULE: str = "nodes"
    RETURN_TYPES: tuple = ()
    RETURN_NAMES: tuple | None = None
    OUTPUT_NODE: bool = False
    EXTRA_INFO: dict = {}
    # Inputs checked by validate() instead of the built-in min/max/combo checks (ComfyUI skips
    # those for inputs that VALIDATE_INPUTS takes).
    CUSTOM_VALIDATED: tuple = ()
    # True when the node consumes its configured latency itself (KSampler spreads it over steps).
    OWN_LATENCY: bool = False

    @classmethod
    @abstractmethod
    def input_types(cls, env: NodeEnv) -> dict:
        """The node's declared inputs, in ComfyUI's INPUT_TYPES shape."""

    @classmethod
    def validate(cls, env: NodeEnv, **values: Any) -> dict[str, Any]:
        """Custom validation: {input_name: True or "reason"}."""
        return {}

    @classmethod
    def is_changed(cls, env: NodeEnv, inputs: dict) -> Any:
        """Extra cache key material (LoadImage returns the file hash)."""
        return None

    @classmethod
    def is_async(cls) -> bool:
        return inspect.iscoroutinefunction(cls.run)

    @abstractmethod
    def run(self, ctx: ExecContext, **inputs: Any) -> tuple | NodeOutput:
        """Execute the node (sync, in a thread, or async) and return its outputs."""

    @classmethod
    def info(cls, name: str, env: NodeEnv) -> dict:
        """The node's /object_info entry (ComfyUI's node_info shape)."""
        specs = cls.input_types(env)
        entry = {
            "input": {k: {n: list(s) for n, s in v.items()} if k != "hidden" else dict(v) for k, v in specs.items()},
            "input_order": {k: list(v.keys()) for k, v in specs.items()},
            "is_input_list": False,
            "output": list(cls.RETURN_TYPES),
            "output_is_list": [False] * len(cls.RETURN_TYPES),
            "output_name": list(cls.RETURN_NAMES or cls.RETURN_TYPES),
            "name": name,
            "display_name": cls.DISPLAY_NAME or name,
            "description": cls.DESCRIPTION,
            "python_module": cls.PYTHON_MODULE,
            "category": cls.CATEGORY,
            "output_node": cls.OUTPUT_NODE,
            "has_intermediate_output": False,
        }
        entry.update(cls.EXTRA_INFO)
        return entry


def input_spec(cls: type[Node], env: NodeEnv, name: str) -> tuple[Any, str, dict] | None:
    """(type, category, extra) of one declared input, like ComfyUI's get_input_info."""
    for category, inputs in cls.input_types(env).items():
        if category == "hidden" or name not in inputs:
            continue
        spec = inputs[name]
        extra = spec[1] if len(spec) > 1 else {}
        return spec[0], category, extra
    return None
