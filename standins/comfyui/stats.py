"""Execution statistics: what was queued, what ran, how it ended, and with which extra_data.

One record per accepted POST /prompt, not per prompt id: an old server (0.3.33) makes a new id
for every submission, and 0.3.64 lets a client reuse one, so a test counts by the client's
own extra_data instead. Stats outlive an in-process restart (RunningEmulator keeps the object);
with a stats file they also outlive the process: every change is appended as one JSON line and
the file is replayed at start.

Record status: pending, running, success, error, interrupted, deleted (removed from the queue
before it ran) or lost (the server stopped, or died, while it was queued or running).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("standins.comfyui.stats")

# Put into extra_data by the server, not by the client (sensitive keys never reach the queue).
SERVER_KEYS = ("client_id", "create_time")
UNFINISHED = ("pending", "running")


class Stats:
    def __init__(self, path: Path | None = None, keep: int = 10_000) -> None:
        self._since = time.time()
        self.executions: dict[str, int] = {}
        self.records: dict[int, dict] = {}  # by submission key, oldest first
        self.busy_seconds = 0.0
        self.model_loads = 0
        self.load_seconds = 0.0
        self._keep = keep
        self._next_key = 0
        # Queue items (the server's own lists) -> their record key while queued or running.
        self._live: dict[int, int] = {}
        self._path = path
        if path is not None and path.exists():
            self._replay(path)

    # --- what the server reports
    def queued(self, item: list) -> None:
        number, prompt_id, _, extra_data, _ = item
        key = self._next_key
        self._live[id(item)] = key
        self._record({"event": "queued", "key": key, "prompt_id": prompt_id, "number": number,
                      "extra_data": {k: v for k, v in extra_data.items() if k not in SERVER_KEYS}})

    def started(self, item: list) -> None:
        self._record({"event": "started", "key": self._live[id(item)], "prompt_id": item[1]})

    def model_loaded(self, item: list, seconds: float) -> None:
        """The running item had to load a checkpoint (another one was loaded) for `seconds`."""
        key = self._live.get(id(item))
        if key is not None:
            self._record({"event": "model_loaded", "key": key, "seconds": seconds})

    def finished(self, item: list, status: str) -> None:
        """Final status of a queued item; "deleted" for one taken off the queue unrun."""
        key = self._live.pop(id(item), None)
        if key is not None:
            self._record({"event": "finished", "key": key, "status": status})

    # --- events, applied live and on replay alike
    def _record(self, event: dict) -> None:
        event["at"] = time.time()
        self._apply(event)
        if self._path is not None:
            with open(self._path, "a", encoding="utf-8") as handle:  # append only: cheap per event
                handle.write(json.dumps(event) + "\n")

    def _apply(self, event: dict[str, Any]) -> None:
        kind, key, at = event["event"], event["key"], event["at"]
        if kind == "queued":
            self._next_key = max(self._next_key, key + 1)
            self.records[key] = {"prompt_id": event["prompt_id"], "number": event["number"],
                                 "extra_data": event["extra_data"], "queued_at": at, "started_at": None,
                                 "finished_at": None, "status": "pending", "model_loads": 0}
            while len(self.records) > self._keep:
                self.records.pop(next(iter(self.records)))
        elif kind == "started":
            self.executions[event["prompt_id"]] = self.executions.get(event["prompt_id"], 0) + 1
            if key in self.records:
                self.records[key].update(started_at=at, status="running")
        elif kind == "model_loaded":
            self.model_loads += 1
            self.load_seconds += event["seconds"]
            if key in self.records:
                self.records[key]["model_loads"] += 1
        elif kind == "finished" and key in self.records:
            record = self.records[key]
            record.update(finished_at=at, status=event["status"])
            if record["started_at"] is not None:
                self.busy_seconds += at - record["started_at"]

    def _replay(self, path: Path) -> None:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    self._apply(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    log.warning("stats file %s: skipping a damaged line", path)  # e.g. cut by a kill
        for record in self.records.values():
            if record["status"] in UNFINISHED:  # the process died without saying so
                record["status"] = "lost"

    def as_dict(self) -> dict:
        return {
            "executions": dict(self.executions),
            "prompts": [dict(r) for r in self.records.values()],
            "busy_seconds": round(self.busy_seconds, 6),
            "model_loads": self.model_loads,
            "load_seconds": round(self.load_seconds, 6),
            "uptime_s": round(time.time() - self._since, 3),
        }
