"""API key secrets (hashed, never stored) and secrets kept at rest (encrypted with rotatable Fernet keys)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_PREFIX = "sk_"
WEBHOOK_SECRET_PREFIX = "whsec_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(secret: str) -> str:
    """SHA-256 hex: a 256-bit random secret needs no slow hash, and lookups stay one indexed equality."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_webhook_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


class Encryptor:
    """Encrypts with the first key, decrypts with any, so a new key can be put in front of the old ones."""

    def __init__(self, keys: str, fallback_secret: str) -> None:
        listed = [k.strip() for k in keys.split(",") if k.strip()]
        if not listed:  # development: a key derived from SECRET_KEY (production refuses this, see Settings)
            listed = [base64.urlsafe_b64encode(hashlib.sha256(fallback_secret.encode()).digest()).decode()]
        self._fernet = MultiFernet([Fernet(k) for k in listed])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with the configured ENCRYPTION_KEY") from None

    @classmethod
    def from_settings(cls, settings) -> Encryptor:
        return cls(settings.ENCRYPTION_KEY, settings.SECRET_KEY)
