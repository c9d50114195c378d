"""The ComfyUI versions the emulator can play, and everything that differs between them.

Servers people run are often a year or more old, so the platform must be right against them
too (protocol §11). Every version difference the emulator reproduces is one field of
Behaviour, so the routes and the executor ask "does this server do X?" instead of comparing
version strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_UPLOAD_SIZE = 104857600


@dataclass(frozen=True)
class Behaviour:
    version: str
    # POST /prompt with a client "prompt_id": "ignored" (the server always makes a uuid4),
    # "any" (taken as a string; reusing one overwrites its history entry) or "uuid" (must be
    # a canonical lowercase UUID, else 400 invalid_prompt_id).
    client_prompt_id: Literal["ignored", "any", "uuid"]
    # POST /interrupt {"prompt_id": X} interrupts only X if it is running; False: the body is
    # never read and whatever runs is interrupted.
    targeted_interrupt: bool
    # An /interrupt body that is JSON but not an object crashes the handler (500) instead of
    # counting as "no prompt_id".
    interrupt_body_must_be_object: bool
    # GET /api/jobs* exist; otherwise they answer 404 with an empty body.
    jobs_api: bool
    # GET /features and the WebSocket feature_flags answer; None: neither exists, so previews
    # stay in the legacy binary format.
    features: dict | None
    # WebSocket "progress_state" messages around every node.
    progress_state: bool
    # execution_error.exception_message ends with "\n".
    error_message_newline: bool

    @property
    def reported_version(self) -> str:
        """/system_stats comfyui_version: the version first, so it parses, then the label."""
        return f"{self.version}-emulator"


VERSIONS: dict[str, Behaviour] = {
    "0.3.33": Behaviour(
        version="0.3.33", client_prompt_id="ignored", targeted_interrupt=False,
        interrupt_body_must_be_object=False, jobs_api=False, features=None, progress_state=False,
        error_message_newline=False),
    "0.3.64": Behaviour(
        version="0.3.64", client_prompt_id="any", targeted_interrupt=True,
        interrupt_body_must_be_object=True, jobs_api=False,
        features={"supports_preview_metadata": True, "max_upload_size": MAX_UPLOAD_SIZE},
        progress_state=True, error_message_newline=True),
    "0.33.0": Behaviour(
        version="0.33.0", client_prompt_id="uuid", targeted_interrupt=True,
        interrupt_body_must_be_object=False, jobs_api=True,
        features={"supports_preview_metadata": True, "supports_model_type_tags": True,
                  "max_upload_size": MAX_UPLOAD_SIZE, "extension": {"manager": {"supports_v4": True}},
                  "node_replacements": True, "assets": False},
        progress_state=True, error_message_newline=True),
}

DEFAULT_VERSION = "0.33.0"


def behaviour_of(version: str) -> Behaviour:
    try:
        return VERSIONS[version]
    except KeyError:
        raise ValueError(f"unsupported ComfyUI version {version!r}; choose one of {', '.join(VERSIONS)}") from None
