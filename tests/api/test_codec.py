"""The codec server decodes the platform's encrypted payloads for the Temporal Web UI, and only for operators."""

from __future__ import annotations

import uuid

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import DataConverter

from api.codec import create_codec_app
from comfy_platform.payload_codec import data_converter, new_payload_key
from comfy_platform.settings import Settings
from tests.fixtures.drive import provider_access_token


async def encrypted(settings: Settings, value: object) -> dict:
    """A value as Temporal stores it, in the JSON form the Web UI posts."""
    converter = data_converter(settings)
    payloads = await converter.encode([value])
    return json_format.MessageToDict(Payloads(payloads=payloads))


def codec_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(create_codec_app(settings)), base_url="http://codec")


async def test_the_web_ui_gets_a_payload_back_in_plain_json():
    settings = Settings(_env_file=None, TEMPORAL_PAYLOAD_KEYS=new_payload_key())
    body = await encrypted(settings, {"webhook_url": "https://me.example/hook"})
    assert "me.example" not in str(body)
    async with codec_client(settings) as http:
        reply = await http.post("/decode", json=body, headers={"X-Namespace": "default",
                                                                "Origin": "http://127.0.0.1:8233"})
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    (plain,) = json_format.ParseDict(reply.json(), Payloads()).payloads
    assert plain.metadata["encoding"] == b"json/plain" and b"me.example" in plain.data


async def test_a_payload_from_before_encryption_passes_through_and_a_rotated_key_still_decodes():
    old, new = new_payload_key(), new_payload_key()
    before_rotation = await encrypted(Settings(_env_file=None, TEMPORAL_PAYLOAD_KEYS=old), "old secret")
    unencrypted = json_format.MessageToDict(Payloads(payloads=await DataConverter.default.encode(["plain"])))
    async with codec_client(Settings(_env_file=None, TEMPORAL_PAYLOAD_KEYS=f"{new},{old}")) as http:
        for body, expected in ((before_rotation, b'"old secret"'), (unencrypted, b'"plain"')):
            (payload,) = json_format.ParseDict((await http.post("/decode", json=body)).json(), Payloads()).payloads
            assert payload.data == expected


async def test_behind_sign_in_only_an_allowed_operators_token_decodes(oidc_provider):
    operator, stranger = f"op-{uuid.uuid4().hex[:8]}", f"x-{uuid.uuid4().hex[:8]}"
    await oidc_provider.set_user(operator, {"email": f"{operator}@ops.example"})
    await oidc_provider.set_user(stranger, {"email": f"{stranger}@elsewhere.example"})
    settings = Settings(_env_file=None, TEMPORAL_PAYLOAD_KEYS=new_payload_key(),
                        CODEC_OIDC_USERINFO_URL=oidc_provider.userinfo_url,
                        CODEC_ALLOWED_EMAILS=f"{operator}@ops.example")
    body = await encrypted(settings, "customer data")
    async with codec_client(settings) as http:
        assert (await http.post("/decode", json=body)).status_code == 401
        stranger_token = await provider_access_token(oidc_provider, stranger, "openid email")
        refused = await http.post("/decode", json=body, headers={"Authorization": f"Bearer {stranger_token}"})
        assert refused.status_code == 403 and "customer data" not in refused.text
        operator_token = await provider_access_token(oidc_provider, operator, "openid email")
        allowed = await http.post("/decode", json=body, headers={"Authorization": f"Bearer {operator_token}"})
    assert allowed.status_code == 200 and "customer data" not in str(body)
    (payload,) = json_format.ParseDict(allowed.json(), Payloads()).payloads
    assert payload.data == b'"customer data"'
