"""POST /upload/image and GET /view, with ComfyUI's naming and path rules.

Uploads are not checked for being images (a real ComfyUI accepts b"this is not a png"); the
failure only shows up when LoadImage runs it.
"""

from __future__ import annotations

import asyncio
import io
import mimetypes
import os

from aiohttp import web
from PIL import Image

from .files import is_inside, store_upload
from .routes_comfy import server_trouble
from .state import state_of


async def upload_image(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        post = await request.post()
    except ValueError:
        return web.Response(status=400)
    image = post.get("image")
    folder_type = post.get("type") or "input"
    base = state.dirs.by_type(str(folder_type))
    if base is None:
        return server_trouble()  # ComfyUI hits an unbound variable here
    if not isinstance(image, web.FileField) or not image.filename:
        return web.Response(status=400)
    overwrite = str(post.get("overwrite", "")) in ("true", "1")
    subfolder = str(post.get("subfolder", ""))
    data = image.file.read()
    name = await asyncio.to_thread(store_upload, base, subfolder, image.filename, data, overwrite)
    if name is None:
        return web.Response(status=400)
    return web.json_response({"name": name, "subfolder": subfolder, "type": folder_type})


def _render(path: str, query, filename: str) -> web.Response | None:
    """preview=/channel= variants; None means "send the file as it is"."""
    disposition = {"Content-Disposition": f'filename="{filename}"'}
    if "preview" in query:
        info = query["preview"].split(";")
        fmt = info[0] if info[0] in ("webp", "jpeg") and "a" not in query.get("channel", "") else "webp"
        quality = int(info[-1]) if info[-1].isdigit() else 90
        with Image.open(path) as img:
            if fmt == "jpeg" or query.get("channel", "") == "rgb":
                img = img.convert("RGB")
            buf = io.BytesIO()
            img.save(buf, format=fmt, quality=quality)
        return web.Response(body=buf.getvalue(), content_type=f"image/{fmt}",
                            headers={"Content-Disposition": f'filename="{filename.replace("png", fmt)}"'})
    channel = query.get("channel", "rgba")
    if channel not in ("rgb", "a"):
        return None
    with Image.open(path) as img:
        if channel == "rgb":
            out = img.convert("RGB")
        else:
            alpha = img.getchannel("A") if img.mode == "RGBA" else Image.new("L", img.size, 255)
            out = Image.new("RGBA", img.size)
            out.putalpha(alpha)
        buf = io.BytesIO()
        out.save(buf, format="PNG")
    return web.Response(body=buf.getvalue(), content_type="image/png", headers=disposition)


async def view(request: web.Request) -> web.Response:
    state = state_of(request)
    query = request.rel_url.query
    if "filename" not in query:
        return web.Response(status=404)
    filename, base = state.dirs.annotated(query["filename"])
    if not filename:
        return web.Response(status=400)
    if filename[0] == "/" or ".." in filename:
        return web.Response(status=400)
    if base is None:
        base = state.dirs.by_type(query.get("type", "output"))
    if base is None:
        return web.Response(status=404)  # observed: a wrong type is a 404
    folder = str(base)
    if "subfolder" in query:
        folder = os.path.join(folder, query["subfolder"])
        if not is_inside(base, folder):
            return web.Response(status=403)
    filename = os.path.basename(filename)
    path = os.path.join(folder, filename)
    if not os.path.isfile(path):
        return web.Response(status=404)
    try:
        rendered = await asyncio.to_thread(_render, path, query, filename)
    except OSError:
        rendered = None  # not an image: serve the bytes as they are
    if rendered is not None:
        return rendered
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if content_type in {"text/html", "text/javascript", "text/css", "application/xhtml+xml"}:
        content_type = "application/octet-stream"  # ComfyUI forces these to download
    return web.FileResponse(path, headers={"Content-Disposition": f'filename="{filename}"',
                                           "Content-Type": content_type})


ROUTES = [
    ("POST", "/upload/image", upload_image),
    ("GET", "/view", view),
]
