"""Prompt queue and history, as ComfyUI's execution.PromptQueue keeps them (in memory only)."""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
from typing import Callable

# An item is ComfyUI's 5-element queue entry: [number, prompt_id, graph, extra_data, outputs].
Item = list


class PromptQueue:
    def __init__(self, on_change: Callable[[], None], max_history: int = 10_000) -> None:
        self._heap: list[tuple[float, int, Item]] = []
        self._seq = itertools.count()  # FIFO among equal numbers
        self._wakeup = asyncio.Event()
        self.running: dict[int, Item] = {}
        self.history: dict[str, dict] = {}
        self.max_history = max_history
        self.on_change = on_change  # broadcasts "status" on every queue change

    # --- queue
    def put(self, item: Item) -> None:
        heapq.heappush(self._heap, (item[0], next(self._seq), item))
        self._wakeup.set()
        self.on_change()

    async def get(self) -> tuple[int, Item]:
        while not self._heap:
            self._wakeup.clear()
            await self._wakeup.wait()
        _, seq, item = heapq.heappop(self._heap)
        self.running[seq] = item
        self.on_change()
        return seq, item

    def task_done(self, seq: int, outputs: dict, meta: dict, status: dict) -> None:
        item = self.running.pop(seq)
        if item[1] not in self.history and len(self.history) >= self.max_history:
            self.history.pop(next(iter(self.history)))
        self.history[item[1]] = {"prompt": item, "outputs": outputs, "status": status, "meta": meta}
        self.on_change()

    def abandon(self, seq: int) -> None:
        """Drop a running item without history (the server is going down)."""
        self.running.pop(seq, None)

    def current(self) -> tuple[list[Item], list[Item]]:
        return list(self.running.values()), [entry[2] for entry in self._heap]

    def remaining(self) -> int:
        return len(self._heap) + len(self.running)

    def wipe(self) -> list[Item]:
        removed = [entry[2] for entry in self._heap]
        self._heap = []
        self.on_change()
        return removed

    def delete(self, prompt_id: str) -> Item | None:
        """Take the first pending item with that id off the queue (None if nothing is pending)."""
        for i, entry in enumerate(self._heap):
            if entry[2][1] == prompt_id:
                self._heap.pop(i)
                heapq.heapify(self._heap)
                self.on_change()
                return entry[2]
        return None

    def is_running(self, prompt_id: str) -> bool:
        return any(item[1] == prompt_id for item in self.running.values())

    # --- history
    def get_history(self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1) -> dict:
        if prompt_id is not None:
            entry = self.history.get(prompt_id)
            return {prompt_id: copy.deepcopy(entry)} if entry is not None else {}
        # ComfyUI: max_items without offset means "the last max_items entries".
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out = {}
        for i, (key, entry) in enumerate(self.history.items()):
            if i >= offset:
                out[key] = entry
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def delete_history(self, prompt_id: str) -> None:
        self.history.pop(prompt_id, None)

    def wipe_history(self) -> None:
        self.history.clear()
