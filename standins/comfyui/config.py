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

    @property
    def behaviour(self) -> Behaviour:
        return behaviour_of(self.comfyui_version)


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
