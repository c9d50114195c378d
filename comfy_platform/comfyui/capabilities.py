"""What one ComfyUI server supports, learned from it: versions differ in ways a client must not guess.

Recorded on real servers (../shared/reference/comfyui_protocol.md §11):
- before July 2025 (0.3.33) `POST /prompt` ignores a client `prompt_id`, and `POST /interrupt` ignores its body
  and stops whatever runs; so the client always takes the id the reply names, and cancels carefully;
- 0.3.64 honours `{"prompt_id": X}` on `/interrupt` (it skips X unless X runs);
- newer servers add `/api/jobs` with an atomic `POST /api/jobs/{id}/cancel`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The oldest release seen honouring a targeted interrupt. Releases between it and 0.3.33 were not observed, so
# they are treated as untargeted: the careful path is correct everywhere, only a little slower.
TARGETED_INTERRUPT_SINCE = (0, 3, 64)


@dataclass(frozen=True)
class Capabilities:
    version: str  # as /system_stats names it ("" when it does not say)
    targeted_interrupt: bool  # /interrupt {"prompt_id": X} stops X only
    jobs_api: bool  # /api/jobs/{id}/cancel exists

    @classmethod
    def learn(cls, version: str, jobs_api: bool) -> Capabilities:
        parsed = parse_version(version)
        targeted = jobs_api or (parsed is not None and parsed >= TARGETED_INTERRUPT_SINCE)
        return cls(version, targeted, jobs_api)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(0, 3, 33) from "0.3.33", "v0.3.33" or "0.3.33-emulator"; None when it is not a version."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None
