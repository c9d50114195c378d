"""The API reference works offline: /docs and /redoc load only what the app itself serves, and the document
declares the API-key scheme on every /api/v1 operation, so Swagger UI's "Authorize" and "Try it out" send a key."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.inline_scripts = 0
        self._in_script_without_src = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[name] for name in ("src", "href") if attrs.get(name)]
        self._in_script_without_src = tag == "script" and not attrs.get("src")

    def handle_data(self, data):
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1


@pytest.mark.parametrize(("page", "runs"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
async def test_the_docs_pages_load_every_script_and_style_from_the_app_itself(api_server, page, runs):
    async with httpx.AsyncClient(base_url=api_server.url) as http:
        reply = await http.get(page)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
        parsed = _Links()
        parsed.feed(reply.text)
        assert parsed.inline_scripts == 0
        assert any(link.endswith(runs) for link in parsed.links)
        for link in parsed.links:
            assert link.startswith("/") and not link.startswith("//"), f"{page} loads {link} from elsewhere"
            asset = await http.get(link)
            assert asset.status_code == 200, link
            assert len(asset.content) > 100, link
    policy = dict(part.strip().split(" ", 1) for part in reply.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self'"  # the schema and "Try it out" go to this origin only


async def test_the_schema_declares_the_api_key_scheme_on_every_developer_api_operation(api_server):
    async with httpx.AsyncClient(base_url=api_server.url) as http:
        document = (await http.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http", "scheme": "bearer", "description": "an API key: `Bearer sk_...`"}
    operations = [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]
    api = [(path, method, op) for path, method, op in operations if path.startswith("/api/v1/")]
    assert len(api) >= 10
    for path, method, op in api:
        assert op.get("security") == [{"ApiKey": []}], f"{method.upper()} {path}"
    for path, method, op in operations:
        if not path.startswith("/api/v1/"):  # the health checks, and the creator's routes (a session cookie)
            assert "security" not in op, f"{method.upper()} {path}"


async def test_an_api_key_sent_as_the_scheme_says_is_the_one_the_api_reads(api_server, make_key):
    created = await make_key()
    async with httpx.AsyncClient(base_url=api_server.url) as http:
        # What Swagger UI sends after "Authorize" with an http bearer scheme.
        accepted = await http.get("/api/v1/usage", headers={"Authorization": f"Bearer {created.secret}"})
        refused = await http.get("/api/v1/usage")
    assert accepted.status_code == 200
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
