"""The single worker: takes the lowest-numbered prompt, runs it, records history, repeats.

One prompt at a time, like ComfyUI's prompt_worker thread. Interrupt is a flag that nodes
check cooperatively; it is cleared when the next prompt starts.
"""

from __future__ import annotations

import asyncio
import logging

from .cache import OutputCache
from .faults import Faults
from .history import PromptQueue
from .hub import Hub
from .nodes import NodeEnv
from .run import PromptRun, now_ms
from .stats import Stats
from .versions import Behaviour

log = logging.getLogger("standins.comfyui.executor")


class Executor:
    def __init__(self, env: NodeEnv, queue: PromptQueue, hub: Hub, faults: Faults, stats: Stats,
                 behaviour: Behaviour) -> None:
        self.env, self.queue, self.hub, self.faults, self.stats = env, queue, hub, faults, stats
        self.behaviour = behaviour
        self.cache = OutputCache()
        self.interrupt_flag = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="emulator-executor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Global interrupt, or only if prompt_id is the running one. True if it was running."""
        if prompt_id is None:
            self.interrupt_flag = True
            return bool(self.queue.running)
        if self.queue.is_running(prompt_id):
            self.interrupt_flag = True
            return True
        return False

    async def _loop(self) -> None:
        while True:
            seq, item = await self.queue.get()
            try:
                await self._run(seq, item)
            except asyncio.CancelledError:
                self.queue.abandon(seq)  # server going down mid-prompt: no history, like a crash
                self.stats.finished(item, "lost")
                raise
            except Exception:  # noqa: BLE001 - an emulator bug must not wedge the queue
                log.exception("emulator failed running prompt %s", item[1])
                if seq in self.queue.running:
                    self.queue.task_done(seq, {}, {}, {"status_str": "error", "completed": False, "messages": []})
                self.stats.finished(item, "error")

    async def _run(self, seq: int, item: list) -> None:
        prompt_id = item[1]
        run = PromptRun(self, item)
        self.interrupt_flag = False
        self.hub.current_client_id = run.client_id
        stall = self.faults.take("stall_s")
        if stall > 0:
            log.warning("fault: stalling prompt %s for %.1fs", prompt_id, stall)
            await asyncio.sleep(stall)
        self.stats.started(item)
        started = now_ms()
        try:
            result = await run.execute()
        finally:
            self.hub.last_node_id = None
        self.queue.task_done(seq, result["outputs"], result["meta"], result["status"])
        self.stats.finished(item, result["outcome"])
        if run.client_id is not None:
            self.hub.send("executing", {"node": None, "prompt_id": prompt_id}, run.client_id)
        self.hub.current_client_id = None
        log.info("prompt %s finished: %s in %d ms", prompt_id, result["outcome"], now_ms() - started,
                 extra={"prompt_id": prompt_id})
