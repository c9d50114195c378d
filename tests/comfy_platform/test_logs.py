"""Log lines as a process writes them: one JSON object per record, whoever logged it, with the keys queries use."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import pytest
import structlog

from cli.devstack import relay_child_line
from comfy_platform.logs import configure_logging

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOISY = ("aiohttp.access", "httpx", "temporalio.bridge")


def stderr_of(capsys, emit: Callable[[], None], fmt: str = "json", service: str | None = "worker") -> str:
    """Configure logging as a process does, run `emit` and return what reached stderr. The test run's own logging
    is put back before returning, inside the test, so pytest's capture handlers are left as pytest set them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy_levels = {name: logging.getLogger(name).level for name in NOISY}
    capsys.readouterr()
    try:
        configure_logging("INFO", fmt, service=service)
        emit()
        return capsys.readouterr().err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, noisy_level in noisy_levels.items():
            logging.getLogger(name).setLevel(noisy_level)
        structlog.reset_defaults()


def json_lines(capsys, emit: Callable[[], None], **kwargs) -> list[dict]:
    return [json.loads(line) for line in stderr_of(capsys, emit, **kwargs).splitlines()]


def test_our_records_and_a_librarys_come_out_as_one_json_object_each_with_the_usual_keys(capsys):
    def emit():
        logging.getLogger("workers.activities").info("prompt %s queued", "p1", extra={"job_id": "j1"})
        # uvicorn's own records carry a coloured copy of the message; it is noise on a JSON line.
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42,
                                                extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
        logging.getLogger("httpx").warning("HTTP Request: GET http://x/ 503")

    ours, uvicorn, httpx = json_lines(capsys, emit)

    assert ours == {"ts": ours["ts"], "level": "info", "logger": "workers.activities", "msg": "prompt p1 queued",
                    "job_id": "j1", "service": "worker"}
    assert uvicorn == {"ts": uvicorn["ts"], "level": "info", "logger": "uvicorn.error",
                       "msg": "Started server process [42]", "service": "worker"}
    assert httpx == {"ts": httpx["ts"], "level": "warning", "logger": "httpx",
                     "msg": "HTTP Request: GET http://x/ 503", "service": "worker"}
    assert all(TS.match(line["ts"]) for line in (ours, uvicorn, httpx))
    assert list(ours)[:4] == ["ts", "level", "logger", "msg"]


def test_every_extra_key_reaches_the_line_and_none_of_the_records_own_attributes(capsys):
    def emit():
        logging.getLogger("workflows.job").warning(
            "prompt requeued", extra={"job_id": "j1", "prompt_id": "p2", "backend": "http://gpu-1:8188",
                                      "requeues": 2, "state": "running", "user_id": None})

    [line] = json_lines(capsys, emit)

    # user_id was not known: left off rather than null, as the lines always did.
    assert set(line) == {"ts", "level", "logger", "msg", "job_id", "prompt_id", "backend", "requeues", "state",
                         "service"}
    assert line["requeues"] == 2


def test_a_service_named_by_the_record_wins_over_the_process_default(capsys):
    [line] = json_lines(capsys, lambda: logging.getLogger("x").info("hi", extra={"service": "oidc"}), service="dev")

    assert line["service"] == "oidc"


def test_temporal_activity_and_workflow_context_become_workflow_id_activity_and_attempt(capsys):
    activity = {"activity_id": "1", "activity_type": "run_prompt", "attempt": 3, "namespace": "default",
                "task_queue": "comfy", "workflow_id": "job-1", "workflow_run_id": "r", "workflow_type": "Job"}
    workflow = {"attempt": 1, "namespace": "default", "run_id": "r", "task_queue": "io", "workflow_id": "job-2",
                "workflow_type": "Job"}

    def emit():
        logging.getLogger("temporalio.activity").info("started", extra={"temporal_activity": activity})
        logging.getLogger("temporalio.workflow").info("waiting", extra={"temporal_workflow": workflow})

    from_activity, from_workflow = json_lines(capsys, emit)

    assert (from_activity["workflow_id"], from_activity["activity"], from_activity["attempt"]) == ("job-1",
                                                                                                   "run_prompt", 3)
    assert from_workflow["workflow_id"] == "job-2"
    assert "activity" not in from_workflow and "attempt" not in from_workflow
    assert not {"temporal_activity", "temporal_workflow"} & (set(from_activity) | set(from_workflow))


def test_an_exception_gives_exc_with_the_traceback_and_a_record_without_exc_info_gives_none(capsys):
    log = logging.getLogger("api.errors")

    def emit():
        try:
            raise ValueError("bad thing")
        except ValueError:
            log.exception("request failed", extra={"job_id": "j1"})
            log.warning("expected: the backend is busy")  # in an except block, but no exc_info asked for

    failed, expected = json_lines(capsys, emit)

    assert failed["level"] == "error" and failed["job_id"] == "j1"
    assert failed["exc"].startswith("Traceback (most recent call last):")
    assert failed["exc"].endswith("ValueError: bad thing")
    assert "exc" not in expected


def test_structlog_loggers_write_the_same_lines_as_standard_library_loggers(capsys):
    def emit():
        logging.getLogger("workers.comfy").info("prompt %s done", "p1", extra={"job_id": "j1"})
        structlog.get_logger("workers.comfy").info("prompt %s done", "p1", job_id="j1")
        structlog.get_logger("workers.comfy").debug("below the level")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            structlog.get_logger("workers.comfy").exception("failed")

    stdlib, native, failed = json_lines(capsys, emit)

    assert {**native, "ts": None} == {**stdlib, "ts": None}
    assert failed["level"] == "error" and failed["exc"].endswith("RuntimeError: boom")


def test_the_console_format_is_for_people_and_not_json(capsys):
    out = stderr_of(capsys, lambda: logging.getLogger("api").info("listening", extra={"job_id": "j1"}),
                    fmt="console")

    [line] = out.splitlines()
    with pytest.raises(ValueError):
        json.loads(line)
    assert "listening" in line and "job_id=j1" in line and "[info" in line


def test_an_unknown_log_format_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        configure_logging("INFO", "jsn")


def test_the_dev_launcher_wraps_a_childs_plain_text_line_and_passes_its_json_lines_as_they_are(capsys):
    plain = "03:44:20.105 INFO   uvicorn.error Uvicorn running on http://127.0.0.1:8766 (Press CTRL+C to quit)"
    ours = '{"ts": "2025-01-01T00:00:00.000Z", "level": "info", "logger": "api", "msg": "up", "service": "api"}'

    def emit():
        relay_child_line("oidc", plain)
        relay_child_line("api", ours)
        relay_child_line("oidc", "")

    wrapped, passed = stderr_of(capsys, emit, service="dev").splitlines()

    assert json.loads(wrapped) == {"ts": json.loads(wrapped)["ts"], "level": "info", "logger": "devstack.oidc",
                                   "msg": plain, "service": "oidc"}
    assert passed == ours
