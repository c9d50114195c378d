"""Reading the ComfyUI emulator's execution stats by what the platform puts into each prompt's extra_data (its
job id and tag), since servers before July 2025 give every copy of a prompt an id of their own."""

from __future__ import annotations


def prompts_of_job(stats: dict, job_id: str) -> list[dict]:
    """Every prompt the platform queued for `job_id`, oldest first."""
    return [p for p in stats["prompts"]
            if ((p.get("extra_data") or {}).get("comfy_platform") or {}).get("job_id") == job_id]


def successful_prompts_of_job(stats: dict, job_id: str) -> int:
    """How many prompts of the job ComfyUI ran to success: exactly once is the platform's promise."""
    return sum(1 for p in prompts_of_job(stats, job_id) if p["status"] == "success")
