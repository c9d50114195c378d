"""The creator product: Google sign-in (oidc), browser sessions, the creator's Google tokens kept at rest
(tokens) and each creator's Drive sync schedule (schedules)."""
