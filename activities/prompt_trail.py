"""What the ComfyUI activity leaves in its heartbeats, so that a retry carries on where the last attempt stopped:
which backend holds the job's prompt, under which id, and how often the job has had to queue it again."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from temporalio import activity

# Tags and requested prompt ids derive from the activity's identity, so a retry can work them out without any
# heartbeat (the first attempt's first id equals the one earlier releases of the platform derived).
PROMPT_NAMESPACE = uuid.UUID("6f1d3c1e-4c55-4e3a-9f0b-9c2f4cbb7a10")
POSTS_KEPT = 8  # ids worth a direct look; older copies are still found by tag


@dataclass
class PromptTrail:
    tag: str  # carried in every copy's extra_data: how a copy is found whatever id the server gave it
    identity: str
    attempt: int
    job_id: str = ""  # also in extra_data, so whoever looks at a ComfyUI queue sees which job a prompt is
    backend: str | None = None  # where the last copy was queued
    prompt_id: str | None = None  # the id the server gave the last copy
    requeues: int = 0  # copies queued because an earlier one was lost or interrupted
    unreachable_since: float | None = None  # wall-clock time `backend` first failed to answer a retry
    progress: float = 0.0
    # The id asked for at every POST of this activity, newest last: the name of each copy's output folder too,
    # so the outputs of a copy whose history a restart wiped are found on disk.
    posts: list[str] = field(default_factory=list)
    posted: int = 0  # POSTs made by this attempt
    # Backends a copy may have reached; None when an earlier attempt left no word (then: every backend).
    suspects: list[str] | None = field(default_factory=list)
    dead: list[str] = field(default_factory=list)  # copies that ended without a result worth attaching to
    last_loss: str | None = None  # why the last copy gave no result, for the error if the job gives up

    @classmethod
    def resume(cls, info: activity.Info, job_id: str) -> PromptTrail:
        identity = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        trail = cls(tag=uuid.uuid5(PROMPT_NAMESPACE, identity).hex, identity=identity, attempt=info.attempt,
                    job_id=job_id)
        details = info.heartbeat_details[0] if info.heartbeat_details else None
        if isinstance(details, dict):
            trail.backend = details.get("backend") or None
            trail.prompt_id = details.get("prompt_id") or None
            trail.requeues = int(details.get("requeues") or 0)
            trail.unreachable_since = details.get("unreachable_since")
            trail.progress = float(details.get("progress") or 0.0)
            trail.posts = [p for p in details.get("posts") or [] if isinstance(p, str)]
            trail.dead = [p for p in details.get("dead") or [] if isinstance(p, str)][-POSTS_KEPT:]
            trail.last_loss = details.get("last_loss")
            suspects = details.get("suspects", [trail.backend] if trail.backend else None)
            trail.suspects = [b for b in suspects if isinstance(b, str)] if isinstance(suspects, list) else None
        elif info.attempt > 1:
            trail.suspects = None
        # An attempt may have died before any heartbeat: the first POST of each earlier attempt is known anyway.
        for earlier in range(max(1, info.attempt - POSTS_KEPT), info.attempt):
            first = trail._post_id(earlier, 0)
            if first not in trail.posts:
                trail.posts.insert(0, first)
        trail.posts = trail.posts[-POSTS_KEPT:]
        return trail

    def _post_id(self, attempt: int, post: int) -> str:
        name = self.identity if (attempt, post) == (1, 0) else f"{self.identity}/{attempt}/{post}"
        return str(uuid.uuid5(PROMPT_NAMESPACE, name))

    def next_post(self) -> str:
        """The id to ask for at this POST: a server that honours it lets a retry find the copy by id alone."""
        post = self._post_id(self.attempt, self.posted)
        self.posted += 1
        self.posts = [*self.posts, post][-POSTS_KEPT:]
        return post

    @property
    def known_ids(self) -> tuple[str, ...]:
        """Ids a copy may have, newest first: the server's, then the ones asked for."""
        ids = ([self.prompt_id] if self.prompt_id else []) + list(reversed(self.posts))
        return tuple(dict.fromkeys(ids))

    @property
    def extra_data(self) -> dict[str, Any]:
        return {"comfy_platform": {"tag": self.tag, "job_id": self.job_id}}

    def posting_to(self, backend: str) -> bool:
        """Count `backend` as holding a copy from now on; True when it did not before."""
        if self.suspects is not None and backend not in self.suspects:
            self.suspects.append(backend)
            return True
        return False

    def not_delivered(self, backend: str) -> None:
        """The POST to `backend` never reached it (its connection was refused)."""
        if self.suspects is not None and backend in self.suspects:
            self.suspects.remove(backend)

    def queued(self, backend: str, prompt_id: str) -> None:
        self.backend, self.prompt_id, self.unreachable_since = backend, prompt_id, None
        self.posting_to(backend)

    def lost(self, why: str) -> None:
        """The last copy will give no result: the next look must not attach to it again."""
        self.last_loss = why
        if self.prompt_id and self.prompt_id not in self.dead:
            self.dead = [*self.dead, self.prompt_id][-POSTS_KEPT:]

    def backend_silent_for(self) -> float:
        """Seconds since the backend holding the prompt stopped answering (0 the first time)."""
        if self.unreachable_since is None:
            self.unreachable_since = time.time()
        return time.time() - self.unreachable_since

    def details(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("identity", "attempt", "tag", "posted", "job_id"):
            data.pop(key)
        return data
