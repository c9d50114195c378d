"""EmulatorConfig: everything the emulator can be told at start-up.

Runtime knobs (latency, faults) start from these values and can be changed and reset over
/_emulator/faults, so one config object describes the "clean" state tests return to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .versions import DEFAULT_VERSION, Behaviour, behaviour_of

DEFAULT_CHECKPOINTS = [
    "sd_xl_base_1.0.safetensors",
    "realisticVisionV60.safetensors",
    "juggernautXL_v9.safetensors",
]


@dataclass
class EmulatorConfig:
    # Root of input/, output/ and temp/ (temp/ is wiped at every start, like ComfyUI).
    data_dir: Path = Path("./var/standins.comfyui")
    # Extra seconds a node of that class takes, e.g. {"KSampler": 0.5}. KSampler spreads its
    # latency over its steps so progress events and interrupts behave like a real sampler.
    node_latency: dict[str, float] = field(default_factory=dict)
    # Extra seconds every prompt takes before its first node runs.
    prompt_latency_s: float = 0.0
    # Fake model files offered by CheckpointLoaderSimple (nothing is ever loaded).
    checkpoints: list[str] = field(default_factory=lambda: list(DEFAULT_CHECKPOINTS))
    # Fake LoRA files offered by LoraLoader.
    loras: list[str] = field(default_factory=list)
    # The node classes this server has installed (a subset of the emulator's); None: all of them. A fleet of
    # emulators with different lists stands for GPUs with different custom nodes.
    node_classes: list[str] | None = None
    # Seconds CheckpointLoaderSimple takes to "load" a checkpoint that is not the one loaded now. Like a real
    # ComfyUI, one checkpoint stays loaded: the last prompt's (runtime knob: /_emulator/faults).
    model_load_s: float = 0.0
    # History entries kept in memory (ComfyUI's MAXIMUM_HISTORY_SIZE).
    max_history: int = 10_000
    # Which real ComfyUI to behave like: "0.3.33", "0.3.64" or "0.33.0" (see versions.py).
    comfyui_version: str = DEFAULT_VERSION
    # JSON-lines file the stats are appended to and replayed from at start, so an emulator
    # process that is killed and started again still reports every execution.
    stats_path: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.stats_path = Path(self.stats_path) if self.stats_path is not None else None
        behaviour_of(self.comfyui_version)  # refuse an unknown version now, not at first request
        if self.node_classes is not None:
            from .nodes import NODE_CLASSES  # the node modules import this one

            unknown = sorted(set(self.node_classes) - set(NODE_CLASSES))
            if unknown:
                raise ValueError(f"unknown node classes: {', '.join(unknown)}")

    @property
    def behaviour(self) -> Behaviour:
        return behaviour_of(self.comfyui_version)


def parse_names(text: str | None) -> list[str]:
    """"a.safetensors, b.safetensors" -> ["a.safetensors", "b.safetensors"]."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def parse_latency(items: list[str] | None) -> dict[str, float]:
    """Parse ["KSampler=0.5", "ImageBlur=1,SaveImage=0.1"] into {"KSampler": 0.5, ...}."""
    latency: dict[str, float] = {}
    for item in items or []:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"node latency must look like Class=seconds, got {part!r}")
            latency[name.strip()] = float(value)
    return latency
