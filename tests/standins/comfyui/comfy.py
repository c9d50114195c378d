"""A deliberately plain ComfyUI client for the emulator tests: raw HTTP + WebSocket, nothing
the platform's own client does, so the tests pin the protocol and not our client."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from typing import Any

import aiohttp
from PIL import Image


def empty_save(color: int = 0, prefix: str = "test/empty", width: int = 64, height: int = 64, batch: int = 1) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": batch, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def txt2img(seed: int = 1, text: str = "a red fox", steps: int = 4, size: int = 64, prefix: str = "test/gen",
            denoise: float = 1.0, ckpt: str = "sd_xl_base_1.0.safetensors") -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
            "denoise": denoise}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }


def slow_graph(color: int, slow_class: str = "ImageBlur", prefix: str = "test/slow") -> dict:
    """EmptyImage -> slow_class -> ImageInvert -> SaveImage: give slow_class latency, and an
    interrupt that lands during it stops the prompt at ImageInvert (node "4")."""
    graph = empty_save(color=color, prefix=prefix, width=8, height=8)
    inputs = {"blur_radius": 1, "sigma": 1.0} if slow_class == "ImageBlur" else {
        "sharpen_radius": 1, "sigma": 1.0, "alpha": 1.0}
    graph["3"] = {"class_type": slow_class, "inputs": {"image": ["1", 0], **inputs}}
    graph["4"] = {"class_type": "ImageInvert", "inputs": {"image": ["3", 0]}}
    graph["2"]["inputs"]["images"] = ["4", 0]
    return graph


def unique_color() -> int:
    return uuid.uuid4().int & 0xFFFFFF


def png_bytes(size=(32, 24), color=(200, 30, 60), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


class Socket:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def next(self, timeout: float = 10.0) -> dict:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type == aiohttp.WSMsgType.TEXT:
                return json.loads(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                raise ConnectionError("socket closed")
            if msg.type == aiohttp.WSMsgType.BINARY:
                return {"type": "binary", "data": msg.data}

    async def until_done(self, prompt_id: str, timeout: float = 15.0) -> list[dict]:
        """Every frame up to and including `executing {node: null}` for prompt_id."""
        frames = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.next(timeout)
                frames.append(frame)
                data = frame.get("data")
                if frame["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                    return frames

    async def quiet_for(self, seconds: float) -> list[dict]:
        """Frames that arrive within `seconds` (for proving that nothing arrives)."""
        frames = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    frames.append(await self.next(seconds))
        except (TimeoutError, asyncio.TimeoutError):
            return frames

    async def close(self) -> None:
        await self.ws.close()


class Comfy:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def socket(self, client_id: str | None = None) -> tuple[Socket, str]:
        client_id = client_id or uuid.uuid4().hex
        ws = await self.session.ws_connect(f"{self.url}/ws?clientId={client_id}")
        sock = Socket(ws)
        hello = await sock.next()
        assert hello["type"] == "status" and hello["data"]["sid"] == client_id
        return sock, client_id

    async def post(self, path: str, body: Any = None, **kw) -> tuple[int, Any]:
        async with self.session.post(self.url + path, json=body, **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    async def get(self, path: str, **kw) -> tuple[int, Any]:
        async with self.session.get(self.url + path, **kw) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.read()

    async def queue_prompt(self, graph: dict, client_id: str | None = None, **extra) -> dict:
        body = {"prompt": graph, **extra}
        if client_id is not None:
            body["client_id"] = client_id
        status, reply = await self.post("/prompt", body)
        assert status == 200, reply
        return reply

    async def wait_history(self, prompt_id: str, timeout: float = 15.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                _, history = await self.get(f"/history/{prompt_id}")
                if history:
                    return history[prompt_id]
                await asyncio.sleep(0.02)

    async def wait_running(self, prompt_id: str, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                _, queue = await self.get("/queue")
                if any(item[1] == prompt_id for item in queue["queue_running"]):
                    return
                await asyncio.sleep(0.01)

    async def run(self, graph: dict, **extra) -> dict:
        """Queue without a socket and poll history (the no-client_id path)."""
        reply = await self.queue_prompt(graph, **extra)
        return await self.wait_history(reply["prompt_id"])

    async def upload(self, name: str, data: bytes, **fields: str) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name, content_type="image/png")
        for key, value in fields.items():
            form.add_field(key, value)
        async with self.session.post(self.url + "/upload/image", data=form) as resp:
            return resp.status, (await resp.json() if resp.content_type == "application/json" else await resp.text())

    async def image(self, ref: dict) -> Image.Image:
        params = {"filename": ref["filename"], "subfolder": ref["subfolder"], "type": ref["type"]}
        async with self.session.get(self.url + "/view", params=params) as resp:
            assert resp.status == 200, resp.status
            return Image.open(io.BytesIO(await resp.read()))
