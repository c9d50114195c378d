"""The creator product's operations: per-creator sync Schedules, Google tokens, browser sessions, Drive access."""
