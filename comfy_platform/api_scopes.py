"""What an API key may do: `generate` (start jobs, upload inputs) and `jobs` (read, list and cancel jobs). Its own
module, so the CLI's argument parser names them without importing the database layer."""

SCOPES = ("generate", "jobs")
