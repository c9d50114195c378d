"""Structured logging through structlog: one JSON object per line, from our code and from every library.

New code logs with the standard library, as all of ours already does::

    log = logging.getLogger(__name__)
    log.info("prompt queued", extra={"job_id": job_id, "prompt_id": prompt_id})

One way rather than two, and this one because the libraries we run (uvicorn, temporalio, httpx, alembic) log
that way too, so one API covers every line, and pytest's `caplog` sees the message itself (a structlog logger's
record carries a dict). `structlog.get_logger().info("prompt queued", job_id=...)` still gives the same line, so
code pasted from elsewhere is not wrong, only not our style.

A JSON line has `ts` (ISO-8601 UTC, milliseconds, `Z`), `level` (lowercase), `logger`, `msg`, then every key
given in `extra` (`job_id`, `workflow_id`, `prompt_id`, `backend`, `user_id`, ...), `service` naming the
process, and `exc` with the traceback when the record carries exc_info. LOG_FORMAT=console renders the same
records for people instead.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor

# Attributes that show up on a record without being anyone's `extra`: `message` and `asctime` are set by any
# formatter that saw the record before ours; uvicorn passes `color_message`, its own message with terminal colours.
_NOT_EXTRA = ("message", "asctime", "color_message")


def _drop_not_extra(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    for key in _NOT_EXTRA:
        event_dict.pop(key, None)
    return event_dict


def _temporal_context(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """temporalio's activity and workflow loggers attach their context as a dict (and repeat it in the message);
    its ids go on the line under our names, so one query finds a workflow's lines from any process."""
    for key in ("temporal_activity", "temporal_workflow"):
        context = event_dict.pop(key, None)
        if isinstance(context, dict):
            event_dict.setdefault("workflow_id", context.get("workflow_id"))
            if "activity_type" in context:
                event_dict.setdefault("activity", context.get("activity_type"))
                event_dict.setdefault("attempt", context.get("attempt"))
    return event_dict


def _trace_ids(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """A line written inside a span (an API request, a workflow, an activity: comfy_platform/tracing.py) carries its
    trace and span ids, so one query finds every line of a job's trace, from any process."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def _head(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """ts, level and logger come from the LogRecord, for stdlib and structlog loggers alike (the record's time is
    when the event happened, not when it was formatted); they lead the line as they always have, and an `extra`
    key of the same name cannot overwrite them."""
    record: logging.LogRecord = event_dict["_record"]
    head = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": event_dict.pop("msg"),
    }
    return {**head, **{key: value for key, value in event_dict.items() if key not in head}}


def _without_none(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    # An id that is not known yet (extra={"job_id": None}) is left off the line rather than written as null.
    return {key: value for key, value in event_dict.items() if value is not None}


def _exception_as_exc(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    # format_exc_info names the traceback `exception`; our lines have always called it `exc`.
    if "exception" in event_dict:
        event_dict["exc"] = event_dict.pop("exception")
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json", service: str | None = None) -> None:
    """Send every record of the process to stderr as `fmt` ("json" or "console") from `level` up; `service`
    names the process on each line that does not name one itself."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(fmt, service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The stripe SDK logs every request at INFO; its failures reach us as exceptions.
    for noisy in ("aiohttp.access", "httpx", "temporalio.bridge", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    # structlog's own loggers hand their event to the stdlib logger of the same name, so they share the level,
    # the handler and the formatter above.
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.EventRenamer("msg"), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def log_formatter(fmt: str = "json", service: str | None = None) -> logging.Formatter:
    """The formatter of every line: JSON objects, or structlog's console lines for people."""
    if fmt not in ("json", "console"):
        raise ValueError(f"LOG_FORMAT must be json or console, not {fmt!r}")

    def default_service(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
        if service:
            event_dict.setdefault("service", service)
        return event_dict

    renderer: list[Processor]
    if fmt == "json":
        # `default=str` writes ids, paths and datetimes as their text, as the lines always did (not their repr).
        # A traceback is only written when the record carries exc_info: format_exc_info looks at nothing else.
        renderer = [structlog.processors.format_exc_info, _exception_as_exc,
                    structlog.processors.JSONRenderer(default=str)]
    else:
        # Plain tracebacks: the default fancy one prints every frame's local variables, secrets included.
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), event_key="msg", timestamp_key="ts",
                                                  exception_formatter=structlog.dev.plain_traceback)]

    formatter = structlog.stdlib.ProcessorFormatter(
        # Records from logging.getLogger(...) loggers, ours and the libraries': the message is renamed before the
        # extras are copied, so an extra named `event` cannot replace it.
        foreign_pre_chain=[structlog.processors.EventRenamer("msg"), structlog.stdlib.ExtraAdder(),
                           _drop_not_extra, _temporal_context],
        # Every record, whichever kind of logger made it.
        processors=[_head, default_service, _trace_ids, _without_none,
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    return formatter
