"""Runtime knobs for tests and benchmarks: injected faults, latency, and execution statistics.

Faults start clear and latency starts at the EmulatorConfig values; DELETE /_emulator/faults
returns to exactly that state.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .config import EmulatorConfig

ONE_SHOT = ("drop_socket_after_start", "stall_s")


@dataclass
class Faults:
    node_latency: dict[str, float] = field(default_factory=dict)
    prompt_latency_s: float = 0.0
    fail_node: str | None = None          # class_type that raises at execution
    fail_message: str | None = None
    fail_times: int | None = None         # None = every time until cleared
    silent_socket: bool = False           # keep sockets open, send nothing
    drop_socket_after_start: bool = False  # next prompt: close its client's socket after execution_start
    stall_s: float = 0.0                  # next prompt: hang this long before execution_start
    http_500: int = 0                     # next N POST /prompt answer 500 text/plain

    @classmethod
    def from_config(cls, config: EmulatorConfig) -> "Faults":
        return cls(node_latency=dict(config.node_latency), prompt_latency_s=config.prompt_latency_s)

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
            elif key in ("prompt_latency_s", "stall_s"):
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


class Stats:
    """What ran and when. Survives an in-process restart so tests can prove nothing ran twice.

    Prompt status: pending, running, success, error, interrupted, deleted (removed from the
    queue before it ran) or lost (the server stopped while it was queued or running).
    """

    def __init__(self, keep: int = 10_000) -> None:
        self.started = time.time()
        self.executions: dict[str, int] = {}
        self.prompts: dict[str, dict] = {}
        self._order: deque[str] = deque()
        self._keep = keep
        self.busy_seconds = 0.0

    def queued(self, prompt_id: str) -> None:
        if prompt_id not in self.prompts:
            self._order.append(prompt_id)
            while len(self._order) > self._keep:
                self.prompts.pop(self._order.popleft(), None)
        self.prompts[prompt_id] = {"prompt_id": prompt_id, "queued_at": time.time(), "started_at": None,
                                   "finished_at": None, "status": "pending"}

    def started_run(self, prompt_id: str) -> None:
        self.executions[prompt_id] = self.executions.get(prompt_id, 0) + 1
        entry = self.prompts.setdefault(prompt_id, {"prompt_id": prompt_id, "queued_at": None})
        entry.update(started_at=time.time(), finished_at=None, status="running")

    def finished(self, prompt_id: str, status: str) -> None:
        entry = self.prompts.get(prompt_id)
        if entry is None:
            return
        entry.update(finished_at=time.time(), status=status)
        if entry.get("started_at"):
            self.busy_seconds += entry["finished_at"] - entry["started_at"]

    def removed(self, prompt_id: str) -> None:
        entry = self.prompts.get(prompt_id)
        if entry is not None and entry["status"] == "pending":
            entry["status"] = "deleted"

    def as_dict(self) -> dict:
        return {
            "executions": dict(self.executions),
            "prompts": [dict(self.prompts[p]) for p in self._order if p in self.prompts],
            "busy_seconds": round(self.busy_seconds, 6),
            "uptime_s": round(time.time() - self.started, 3),
        }
