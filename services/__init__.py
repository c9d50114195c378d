"""Business operations that the API, the CLI and the activities share: creating a job (`jobs`), presenting one
(`job_presenter`), and the creator product's schedules, tokens, sessions and Drive access (`creator/`).

Below the doors (api, workers, cli) and above the data (db, presets) and the clients (comfy_platform)."""
