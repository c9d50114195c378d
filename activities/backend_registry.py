"""Keeps the registry of the backends a comfy worker serves true (db/backends.py): their inventory from
`/object_info` when a backend (re)appears and every COMFY_REGISTRY_REFRESH_S, and whether it answers.

The backend monitor (comfy_platform/comfyui/monitor.py) calls `sampled` after each of its checks; a ComfyUI
activity calls `observed` with the `/object_info` it read for its preflight, so a backend whose inventory changed
under the registry is known at once. Writes happen only when something changed.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.comfyui.routing import Inventory, inventory_of
from db import backends as backend_queries

log = logging.getLogger(__name__)


class BackendRegistry:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], pool: BackendPool, task_queue: str, *,
                 refresh_s: float = 60.0) -> None:
        self.sessionmaker, self.pool, self.task_queue, self.refresh_s = sessionmaker, pool, task_queue, refresh_s
        self._up: dict[str, bool] = {}
        self._inventory: dict[str, Inventory] = {}
        self._refreshed: dict[str, float] = {}

    def known(self, url: str) -> Inventory | None:
        return self._inventory.get(url)

    async def refresh_all(self) -> None:
        for url in self.pool.urls:
            try:
                await self.refresh(url, restarted=True)
            except Exception as exc:  # noqa: BLE001 - a backend down at start is recorded when it answers
                log.warning("backend %s: inventory not read (%s)", url, exc)
                await self._set_up(url, False)

    async def refresh(self, url: str, *, restarted: bool = False) -> Inventory:
        client = self.pool.get(url)
        info = await client.object_info(refresh=True)
        version = (await client.capabilities()).version or None
        return await self._record(url, inventory_of(info), version, restarted=restarted)

    async def observed(self, url: str, object_info: dict) -> Inventory:
        """An activity read the backend's `/object_info`: the registry follows it if it changed."""
        inventory = inventory_of(object_info)
        if self._inventory.get(url) != inventory:
            await self._record(url, inventory, None, restarted=False)
        return inventory

    async def sampled(self, url: str, up: bool) -> None:
        """The monitor's check of `url`: (re)read its inventory when it came back or is due, else note up/down."""
        came_back = up and self._up.get(url) is False
        due = time.monotonic() - self._refreshed.get(url, float("-inf")) >= self.refresh_s
        if up and (came_back or due or url not in self._inventory):
            try:
                await self.refresh(url, restarted=came_back)
                return
            except Exception as exc:  # noqa: BLE001 - it stopped answering between the two checks
                log.info("backend %s: inventory not read (%s)", url, exc)
                up = False
        await self._set_up(url, up)

    async def _record(self, url: str, inventory: Inventory, version: str | None, *, restarted: bool) -> Inventory:
        async with self.sessionmaker() as session, session.begin():
            await backend_queries.record_inventory(session, url, self.task_queue, inventory, version,
                                                   restarted=restarted)
        if self._inventory.get(url) not in (None, inventory):
            log.info("backend %s: inventory changed (%d node classes)", url, len(inventory.node_classes))
        self._inventory[url], self._up[url], self._refreshed[url] = inventory, True, time.monotonic()
        return inventory

    async def _set_up(self, url: str, up: bool) -> None:
        if self._up.get(url) == up:
            return
        async with self.sessionmaker() as session, session.begin():
            await backend_queries.set_up(session, url, up)
        self._up[url] = up
