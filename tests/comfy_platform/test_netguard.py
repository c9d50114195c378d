"""URL safety: which hosts a user's URL may reach, and fetching within limits."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from comfy_platform.netguard import FetchFailed, UnsafeUrl, fetch_url, resolve_url
from tests.helpers.ports import free_port

LOOPBACK = "127.0.0.1,localhost"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.1.2.3:8080/x", "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/", "http://[fc00::1]/", "http://0.0.0.0/",
    "http://224.0.0.1/", "http://240.0.0.1/", "http://localhost:8000/", "http://2130706433/",
])
async def test_internal_addresses_are_refused(url):
    with pytest.raises(UnsafeUrl, match="may not be used"):
        await resolve_url(url, "")


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/file", "file:///etc/passwd", "gopher://8.8.8.8/", "http:///nohost"])
async def test_only_http_and_https_urls_are_accepted(url):
    with pytest.raises(UnsafeUrl):
        await resolve_url(url, "")


async def test_metadata_address_refusal_says_why():
    with pytest.raises(UnsafeUrl, match="metadata"):
        await resolve_url("http://169.254.169.254/", "")


@pytest.mark.parametrize("url", ["http://8.8.8.8/image.png", "https://1.1.1.1:8443/a?b=c",
                                 "https://[2606:4700:4700::1111]/"])
async def test_public_ip_literals_pass_without_any_request(url):
    await resolve_url(url, "")


@pytest.mark.parametrize(("url", "allowlist"), [
    ("http://127.0.0.1:9/", "127.0.0.1"), ("http://localhost/", "localhost"), ("http://localhost/", "127.0.0.0/8"),
    ("http://10.2.3.4/", "10.0.0.0/8"), ("http://[::1]/", "::1"), ("http://LocalHost/", "localhost"),
])
async def test_allowlisted_hosts_and_networks_are_permitted(url, allowlist):
    await resolve_url(url, f"example.org, {allowlist}")


async def test_allowlist_does_not_open_other_internal_addresses():
    with pytest.raises(UnsafeUrl):
        await resolve_url("http://10.0.0.1/", "127.0.0.1,localhost,192.168.0.0/16")


async def test_unresolvable_host_fails_to_fetch_rather_than_being_called_unsafe():
    with pytest.raises(FetchFailed, match="cannot be resolved"):
        await resolve_url("http://no-such-host.invalid/", "")


async def test_resolved_url_connects_to_the_checked_address_and_keeps_the_host_name():
    checked = await resolve_url("https://localhost:8443/x", "localhost")
    assert str(checked.connect_url) == "https://127.0.0.1:8443/x"
    assert checked.headers == {"Host": "localhost:8443"}
    assert checked.extensions == {"sni_hostname": "localhost"}


@asynccontextmanager
async def serving(routes: web.RouteTableDef):
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def file_server() -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/bytes/{n}")
    async def sized(request):
        return web.Response(body=b"x" * int(request.match_info["n"]))

    @routes.get("/chunked/{n}")
    async def chunked(request):  # no Content-Length: only counting the stream can stop it
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(int(request.match_info["n"]) // 1000):
            await response.write(b"y" * 1000)
        await response.write_eof()
        return response

    @routes.get("/redirect/{hops}")
    async def redirect(request):
        hops = int(request.match_info["hops"])
        raise web.HTTPFound("/bytes/10" if hops == 0 else f"/redirect/{hops - 1}")

    @routes.get("/to")
    async def redirect_to(request):
        raise web.HTTPFound(request.query["url"])

    @routes.get("/status/{code}")
    async def status(request):
        return web.Response(status=int(request.match_info["code"]))

    @routes.get("/slow")
    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(body=b"late")

    @routes.get("/host")
    async def host(request):
        return web.Response(text=request.headers["Host"])

    return routes


@pytest.fixture
async def server():
    async with serving(file_server()) as url:
        yield url


async def fetch(url: str, max_bytes: int = 1000, timeout_s: float = 5, allowlist: str = LOOPBACK) -> bytes:
    return await fetch_url(url, max_bytes=max_bytes, timeout_s=timeout_s, allowlist=allowlist)


async def test_fetch_returns_the_body_within_the_limit(server):
    assert await fetch(f"{server}/bytes/1000") == b"x" * 1000


async def test_fetch_refuses_a_declared_length_over_the_limit(server):
    with pytest.raises(FetchFailed, match="1001 bytes, more than the limit of 1000"):
        await fetch(f"{server}/bytes/1001")


async def test_fetch_stops_a_stream_without_length_once_over_the_limit(server):
    with pytest.raises(FetchFailed, match="larger than the limit of 5000 bytes"):
        await fetch(f"{server}/chunked/1000000", max_bytes=5000)


async def test_fetch_refuses_loopback_without_the_allowlist(server):
    with pytest.raises(UnsafeUrl, match="loopback"):
        await fetch(f"{server}/bytes/10", allowlist="")


async def test_fetch_follows_up_to_three_redirects(server):
    assert await fetch(f"{server}/redirect/2") == b"x" * 10  # three hops: /redirect/2, /1, /0 -> /bytes/10


async def test_fetch_refuses_a_fourth_redirect(server):
    with pytest.raises(FetchFailed, match="redirected more than 3 times"):
        await fetch(f"{server}/redirect/3")


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x",
                                    "file:///etc/passwd"])
async def test_every_redirect_hop_is_checked_again(server, target):
    with pytest.raises(UnsafeUrl):
        await fetch(f"{server}/to?url={target}")


async def test_fetch_reports_a_non_2xx_answer(server):
    with pytest.raises(FetchFailed, match="answered HTTP 404"):
        await fetch(f"{server}/status/404")


async def test_fetch_gives_up_after_the_timeout(server):
    with pytest.raises(FetchFailed, match=r"did not answer within 0\.5 s"):
        await fetch(f"{server}/slow", timeout_s=0.5)


async def test_fetch_reports_an_unreachable_host():
    with pytest.raises(FetchFailed, match="unreachable"):
        await fetch(f"http://127.0.0.1:{free_port()}/x")


async def test_fetch_by_name_connects_to_the_checked_address_with_the_name_as_host(server):
    port = server.rsplit(":", 1)[1]
    assert await fetch(f"http://localhost:{port}/host") == f"localhost:{port}".encode()
