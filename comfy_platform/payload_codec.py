"""Workflow payloads encrypted before they leave the process, so Temporal's database holds no readable customer data.

Every Temporal client of the platform (API, workers, CLI, tests, benchmarks) uses `data_converter(settings)`:
inputs, results, signals, queries, heartbeat details and failure messages are AES-256-GCM encrypted with the first
key and decrypted with whichever key a payload names, so a new key goes in front to rotate (as with
ENCRYPTION_KEY) and old runs stay readable while their key is listed. A payload this codec did not encode (runs and
recorded histories from before it) passes through as it is.

Operators who may read payloads decode them through the codec server (api/codec.py), which the Temporal Web UI calls.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class UnknownPayloadKey(ValueError):
    """A payload encrypted with a key that is no longer (or not yet) configured."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one payload key is needed")
        self._ciphers = {_key_id(key): AESGCM(key) for key in keys}
        self._current = _key_id(keys[0])

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            encoded.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
                                   data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), None)))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode(payload) for payload in payloads]

    def _decode(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before payloads were encrypted, or by a client without the codec
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownPayloadKey(f"payload encrypted with key {key_id!r}, which is not among the configured "
                                    "TEMPORAL_PAYLOAD_KEYS")
        plain = Payload()
        plain.ParseFromString(cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None))
        return plain


def payload_keys(settings) -> list[bytes]:
    """TEMPORAL_PAYLOAD_KEYS (urlsafe base64, 32 bytes each, comma-separated; the first encrypts) or, when empty,
    one key derived from each ENCRYPTION_KEY entry (from SECRET_KEY in development, as secrets at rest are), so
    rotating ENCRYPTION_KEY rotates these alike."""
    listed = _split(settings.TEMPORAL_PAYLOAD_KEYS)
    if listed:
        keys = [base64.urlsafe_b64decode(key) for key in listed]
        if any(len(key) != 32 for key in keys):
            raise ValueError("each TEMPORAL_PAYLOAD_KEYS entry must be 32 bytes in urlsafe base64")
        return keys
    sources = [base64.urlsafe_b64decode(key) for key in _split(settings.ENCRYPTION_KEY)] or \
        [hashlib.sha256(settings.SECRET_KEY.encode()).digest()]
    return [HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                 info=b"comfy-platform temporal payloads").derive(source) for source in sources]


def data_converter(settings) -> DataConverter:
    """The one data converter of every Temporal client: default JSON, encrypted, failure messages included."""
    return dataclasses.replace(DataConverter.default, payload_codec=EncryptionCodec(payload_keys(settings)),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def new_payload_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _split(value: str) -> Iterable[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
