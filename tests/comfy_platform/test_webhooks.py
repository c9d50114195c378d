"""Standard Webhooks signatures: what the platform sends verifies with the SDK (and the spec's library), and
anything altered, stale or signed with another secret does not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from comfy_platform.secrets import new_webhook_secret
from comfy_platform.webhooks import sign, signature_headers
from sdk import verify_webhook

BODY = b'{"id":"job1","status":"succeeded"}'


def test_signed_delivery_verifies_whatever_the_header_case_or_body_type():
    secret = new_webhook_secret()
    headers = signature_headers(secret, "wh_job1", BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert verify_webhook(secret, headers, BODY)
    assert verify_webhook(secret, {k.title(): v for k, v in headers.items()}, BODY.decode())


def test_signature_is_the_standard_webhooks_hmac_of_id_timestamp_and_body():
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    expected = base64.b64encode(hmac.new(b"k" * 24, b"wh_1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert sign(secret, "wh_1", 1700000000, BODY) == f"v1,{expected}"


def test_tampered_body_timestamp_or_id_fails():
    secret = new_webhook_secret()
    headers = signature_headers(secret, "wh_job1", BODY)
    assert not verify_webhook(secret, headers, BODY.replace(b"succeeded", b"failed"))
    assert not verify_webhook(secret, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
                              BODY)
    assert not verify_webhook(secret, {**headers, "webhook-id": "wh_job2"}, BODY)


def test_other_secret_fails():
    headers = signature_headers(new_webhook_secret(), "wh_job1", BODY)
    assert not verify_webhook(new_webhook_secret(), headers, BODY)


def test_stale_or_future_timestamp_fails_even_with_a_good_signature():
    secret = new_webhook_secret()
    assert not verify_webhook(secret, signature_headers(secret, "wh_job1", BODY, timestamp=int(time.time()) - 301),
                              BODY)
    assert not verify_webhook(secret, signature_headers(secret, "wh_job1", BODY, timestamp=int(time.time()) + 301),
                              BODY)


def test_one_matching_signature_among_several_is_enough_while_a_secret_rotates():
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = signature_headers(new, "wh_job1", BODY)
    rotated = {**headers, "webhook-signature": f"{sign(old, 'wh_job1', int(headers['webhook-timestamp']), BODY)} "
                                               f"{headers['webhook-signature']}"}
    assert verify_webhook(new, rotated, BODY) and verify_webhook(old, rotated, BODY)


def test_missing_or_malformed_headers_fail():
    secret = new_webhook_secret()
    headers = signature_headers(secret, "wh_job1", BODY)
    for name in headers:
        assert not verify_webhook(secret, {k: v for k, v in headers.items() if k != name}, BODY)
    assert not verify_webhook(secret, {**headers, "webhook-timestamp": "soon"}, BODY)
    assert not verify_webhook(secret, {**headers, "webhook-signature": "v2,abc"}, BODY)
    assert not verify_webhook("whsec_not base64!", headers, BODY)
