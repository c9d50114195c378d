"""EmulatorConfig: everything the emulator can be told at start-up.

Runtime knobs (latency, faults) start from these values and can be changed and reset over
/_emulator/faults, so one config object describes the "clean" state tests return to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CHECKPOINTS = [
    "sd_xl_base_1.0.safetensors",
    "realisticVisionV60.safetensors",
    "juggernautXL_v9.safetensors",
]


@dataclass
class EmulatorConfig:
    # Root of input/, output/ and temp/ (temp/ is wiped at every start, like ComfyUI).
    data_dir: Path = Path("./var/comfy_emulator")
    # Extra seconds a node of that class takes, e.g. {"KSampler": 0.5}. KSampler spreads its
    # latency over its steps so progress events and interrupts behave like a real sampler.
    node_latency: dict[str, float] = field(default_factory=dict)
    # Extra seconds every prompt takes before its first node runs.
    prompt_latency_s: float = 0.0
    # Fake model files offered by CheckpointLoaderSimple (nothing is ever loaded).
    checkpoints: list[str] = field(default_factory=lambda: list(DEFAULT_CHECKPOINTS))
    # History entries kept in memory (ComfyUI's MAXIMUM_HISTORY_SIZE).
    max_history: int = 10_000

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)


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
