"""The codec server: the Temporal Web UI decodes workflow payloads through it (`comfy-platform codec-server`).

Payloads are encrypted in Temporal (comfy_platform/payload_codec.py); an operator who may read them points the UI
at this server (the UI's "codec endpoint"), and the UI's browser posts `{"payloads": [...]}` to `/decode` (and
`/encode`) in Temporal's JSON form. It runs apart from the public API, on CODEC_HOST:CODEC_PORT, so reaching it is
an operator's privilege like reaching the UI: loopback (an SSH tunnel, `kubectl port-forward`), or, with the UI
behind its own OIDC sign-in, the token the UI passes along, which the sign-in provider's userinfo endpoint must
vouch for as one of CODEC_ALLOWED_EMAILS.
"""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from temporalio.api.common.v1 import Payloads

from comfy_platform.payload_codec import EncryptionCodec, payload_keys
from comfy_platform.settings import Settings

TOKEN_CACHE_S = 60.0


def create_codec_app(settings: Settings) -> FastAPI:
    codec = EncryptionCodec(payload_keys(settings))
    allowed = {e.strip().lower() for e in settings.CODEC_ALLOWED_EMAILS.split(",") if e.strip()}
    vouched: dict[str, float] = {}  # tokens the provider vouched for, and until when that holds
    app = FastAPI(title="Comfy Platform payload codec", docs_url=None, redoc_url=None, openapi_url=None)
    origins = [o.strip() for o in settings.CODEC_CORS_ORIGINS.split(",") if o.strip()] or \
        [f"http://127.0.0.1:{settings.TEMPORAL_UI_PORT}", f"http://localhost:{settings.TEMPORAL_UI_PORT}"]
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["POST", "OPTIONS"],
                       allow_headers=["Content-Type", "X-Namespace", "Authorization"], allow_credentials=True)

    async def operator(request: Request) -> JSONResponse | None:
        """None for an operator; else the refusal."""
        if not settings.CODEC_OIDC_USERINFO_URL:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return JSONResponse({"error": "sign in to the Temporal Web UI to read payloads"}, 401)
        if vouched.get(token, 0) > time.monotonic():
            return None
        async with httpx.AsyncClient(timeout=10) as http:
            reply = await http.get(settings.CODEC_OIDC_USERINFO_URL, headers={"Authorization": f"Bearer {token}"})
        email = (reply.json().get("email") or "").lower() if reply.is_success else ""
        if not email or email not in allowed:
            return JSONResponse({"error": "this account may not read workflow payloads"}, 403)
        vouched[token] = time.monotonic() + TOKEN_CACHE_S
        return None

    async def transcode(request: Request, decode: bool) -> JSONResponse:
        refusal = await operator(request)
        if refusal is not None:
            return refusal
        payloads = json_format.Parse(await request.body(), Payloads())
        done = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=done)))

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        return await transcode(request, decode=True)

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        return await transcode(request, decode=False)

    return app
