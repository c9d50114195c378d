"""Standard Webhooks signatures: what we send verifies, and anything altered or stale does not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from comfy_platform.secrets import new_webhook_secret
from comfy_platform.webhooks import sign, signature_headers, verify

BODY = b'{"id":"job1","status":"succeeded"}'


def test_signed_delivery_verifies():
    secret = new_webhook_secret()
    headers = signature_headers(secret, "wh_job1", BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert verify(secret, headers, BODY)
    assert verify(secret, {k.title(): v for k, v in headers.items()}, BODY.decode())  # any case, str body


def test_signature_is_the_standard_webhooks_hmac_of_id_timestamp_and_body():
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    expected = base64.b64encode(hmac.new(b"k" * 24, b"wh_1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert sign(secret, "wh_1", 1700000000, BODY) == f"v1,{expected}"


def test_tampered_body_timestamp_or_id_fails():
    secret = new_webhook_secret()
    headers = signature_headers(secret, "wh_job1", BODY)
    assert not verify(secret, headers, BODY.replace(b"succeeded", b"failed"))
    assert not verify(secret, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}, BODY)
    assert not verify(secret, {**headers, "webhook-id": "wh_job2"}, BODY)


def test_other_secret_fails():
    headers = signature_headers(new_webhook_secret(), "wh_job1", BODY)
    assert not verify(new_webhook_secret(), headers, BODY)


def test_stale_or_future_timestamp_fails_even_with_a_good_signature():
    secret = new_webhook_secret()
    old = signature_headers(secret, "wh_job1", BODY, timestamp=int(time.time()) - 301)
    future = signature_headers(secret, "wh_job1", BODY, timestamp=int(time.time()) + 301)
    assert not verify(secret, old, BODY)
    assert not verify(secret, future, BODY)
    assert verify(secret, old, BODY, tolerance_s=600)


def test_one_matching_signature_among_several_is_enough():
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = signature_headers(new, "wh_job1", BODY)
    rotated = {**headers, "webhook-signature": f"{sign(old, 'wh_job1', int(headers['webhook-timestamp']), BODY)} "
                                               f"{headers['webhook-signature']}"}
    assert verify(new, rotated, BODY) and verify(old, rotated, BODY)


def test_missing_or_malformed_headers_fail():
    secret = new_webhook_secret()
    headers = signature_headers(secret, "wh_job1", BODY)
    for name in headers:
        assert not verify(secret, {k: v for k, v in headers.items() if k != name}, BODY)
    assert not verify(secret, {**headers, "webhook-timestamp": "soon"}, BODY)
    assert not verify(secret, {**headers, "webhook-signature": "v2,abc"}, BODY)
    assert not verify("whsec_not base64!", headers, BODY)
