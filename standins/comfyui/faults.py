"""Runtime knobs for tests and benchmarks: injected faults and latency.

Faults start clear and latency starts at the EmulatorConfig values; DELETE /_emulator/faults
returns to exactly that state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import EmulatorConfig


@dataclass
class Faults:
    node_latency: dict[str, float] = field(default_factory=dict)
    prompt_latency_s: float = 0.0
    model_load_s: float = 0.0             # seconds a checkpoint other than the loaded one takes to load
    fail_node: str | None = None          # class_type that raises at execution
    fail_message: str | None = None
    fail_times: int | None = None         # None = every time until cleared
    silent_socket: bool = False           # keep sockets open, send nothing
    drop_socket_after_start: bool = False  # next prompt: close its client's socket after execution_start
    stall_s: float = 0.0                  # next prompt: hang this long before execution_start
    http_500: int = 0                     # next N POST /prompt answer 500 text/plain
    interrupt_delay_s: float = 0.0        # POST /interrupt takes effect this late, as if slow on the wire
    reply_delay_s: float = 0.0            # next POST /prompt: queued at once, answered this late (a reply lost
                                          # to a crash of the client is then easy to arrange)

    @classmethod
    def from_config(cls, config: EmulatorConfig) -> "Faults":
        return cls(node_latency=dict(config.node_latency), prompt_latency_s=config.prompt_latency_s,
                   model_load_s=config.model_load_s)

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply a JSON body; returns the unknown keys (rejected by the route)."""
        unknown = [k for k in changes if k not in self.__dataclass_fields__ and k != "drop_sockets"]
        if unknown:
            return unknown
        for key, value in changes.items():
            if key == "drop_sockets":
                continue  # an action, handled by the route
            if key == "node_latency":
                self.node_latency.update({str(k): float(v) for k, v in (value or {}).items()})
            elif key in ("prompt_latency_s", "model_load_s", "stall_s", "interrupt_delay_s", "reply_delay_s"):
                setattr(self, key, float(value or 0))
            elif key in ("http_500",):
                self.http_500 = int(value or 0)
            elif key == "fail_times":
                self.fail_times = None if value is None else int(value)
            elif key in ("silent_socket", "drop_socket_after_start"):
                setattr(self, key, bool(value))
            else:
                setattr(self, key, value)
        return []

    def should_fail(self, class_type: str) -> str | None:
        """The message to raise with if this node is set to fail (consumes one fail_times)."""
        if self.fail_node != class_type:
            return None
        if self.fail_times is not None:
            if self.fail_times <= 0:
                return None
            self.fail_times -= 1
        return self.fail_message or f"EMULATOR FAULT: {class_type} failed (injected by /_emulator/faults)"

    def take_http_500(self) -> bool:
        if self.http_500 > 0:
            self.http_500 -= 1
            return True
        return False

    def take(self, name: str) -> Any:
        """Read and reset a one-shot fault."""
        value = getattr(self, name)
        setattr(self, name, type(value)())
        return value

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

