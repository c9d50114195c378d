"""Structured logging: one JSON object per line, carrying job and workflow ids when known."""

from __future__ import annotations

import json
import logging
import sys
import time

# Extra keys copied from a record onto the JSON line (log.info("...", extra={"job_id": ...})).
CONTEXT_KEYS = ("job_id", "workflow_id", "prompt_id", "backend", "activity", "attempt", "user_id", "service")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        # temporalio's activity/workflow loggers attach their context as a dict
        for key in ("temporal_activity", "temporal_workflow"):
            ctx = getattr(record, key, None)
            if isinstance(ctx, dict):
                line.setdefault("workflow_id", ctx.get("workflow_id"))
                if "activity_type" in ctx:
                    line.setdefault("activity", ctx.get("activity_type"))
                    line.setdefault("attempt", ctx.get("attempt"))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO", fmt: str = "json", service: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if service:
        handler.addFilter(_ServiceFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "httpx", "temporalio.bridge"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "service"):
            record.service = self.service
        return True
