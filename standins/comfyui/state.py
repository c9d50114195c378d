"""The state one running emulator holds, shared by its routes."""

from __future__ import annotations

import time

from aiohttp import web

from .config import EmulatorConfig
from .executor import Executor
from .faults import Faults
from .files import DataDirs
from .history import PromptQueue
from .hub import Hub
from .nodes import NodeEnv
from .stats import Stats


class EmulatorState:
    """Everything one running emulator holds. A restart builds a new one (history is lost,
    as with a real ComfyUI) but may carry the Stats over."""

    def __init__(self, config: EmulatorConfig, stats: Stats | None = None) -> None:
        self.config = config
        self.behaviour = config.behaviour
        self.dirs = DataDirs(config.data_dir)
        self.env = NodeEnv(self.dirs, config)
        self.faults = Faults.from_config(config)
        self.stats = stats or Stats(config.stats_path)
        self.started_at = time.time()
        self.number = 0  # next queue number, as ComfyUI's PromptServer.number
        self.hub = Hub(self.faults, self.behaviour.features, self.queue_info)
        self.queue = PromptQueue(self.hub.broadcast_status, config.max_history)
        self.executor = Executor(self.env, self.queue, self.hub, self.faults, self.stats, self.behaviour)

    def queue_info(self) -> dict:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}


STATE = web.AppKey("emulator_state", EmulatorState)


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE]
