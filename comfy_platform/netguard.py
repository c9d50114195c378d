"""URLs users hand us (input images, webhooks) may only reach the public internet.

A host is resolved once, every address it resolves to is checked, and the request then connects to that checked
address (the Host header and TLS SNI keep the name), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot point the request at an internal service. Redirects are followed by hand and
each hop is checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

MAX_REDIRECTS = 3
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Cloud metadata endpoints; 169.254.169.254 is link-local anyway, named here so the refusal says why.
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """The URL is not http(s), or its host is (or resolves to) an address that is not public."""


class FetchFailed(ValueError):
    """The URL could not be fetched: unreachable, too slow, too large or not a 2xx answer."""


class ResponseTooLarge(FetchFailed):
    """The body is larger than `max_bytes`: the URL answered, but with more than the caller takes."""

    def __init__(self, message: str, max_bytes: int) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class CheckedUrl:
    """A URL whose host resolved to `address`, which passed the check: connect there, not to a new DNS answer."""

    url: httpx.URL
    address: str

    @property
    def connect_url(self) -> httpx.URL:
        return self.url.copy_with(host=self.address)

    @property
    def headers(self) -> dict[str, str]:
        host = self.url.host if ":" not in self.url.host else f"[{self.url.host}]"
        return {"Host": host if self.url.port is None else f"{host}:{self.url.port}"}

    @property
    def extensions(self) -> dict[str, str]:
        # The certificate is verified against the name, though the socket connects to the address.
        return {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}


async def resolve_url(url: str | httpx.URL, allowlist: str = "") -> CheckedUrl:
    """Raise UnsafeUrl unless `url` is http(s) and its host resolves only to public addresses (or is allowlisted);
    FetchFailed when it does not resolve. Returns it with the checked address to connect to."""
    parsed = _parse(url)
    addresses = await asyncio.to_thread(_resolve_blocking, parsed.host)
    _check_addresses(parsed, addresses, allowlist)
    return CheckedUrl(parsed, str(addresses[0]))


async def fetch_url(url: str, *, max_bytes: int, timeout_s: float, allowlist: str = "") -> bytes:
    """GET a user's URL: at most MAX_REDIRECTS redirects (each hop checked), at most `max_bytes`, within `timeout_s`
    in all. Raises UnsafeUrl or FetchFailed (ResponseTooLarge for a body over the limit) with a message fit to
    show the user."""
    try:
        async with asyncio.timeout(timeout_s), _client(timeout_s) as client:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                checked = await resolve_url(current, allowlist)
                request = client.build_request("GET", checked.connect_url, headers=checked.headers,
                                               extensions=checked.extensions)
                response = await client.send(request, stream=True)
                try:
                    if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                        current = urljoin(str(checked.url), response.headers["location"])
                        continue
                    return await _read_body(response, url, max_bytes)
                finally:
                    await response.aclose()
            raise FetchFailed(f"{url} redirected more than {MAX_REDIRECTS} times")
    except TimeoutError:
        raise FetchFailed(f"{url} did not answer within {timeout_s:g} s") from None
    except httpx.TimeoutException:
        raise FetchFailed(f"{url} did not answer within {timeout_s:g} s") from None
    except httpx.ConnectError as exc:
        raise FetchFailed(f"{url} is unreachable ({exc or 'connection refused'})") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{url} could not be fetched ({exc or 'the connection failed'})") from None


def _client(timeout_s: float) -> httpx.AsyncClient:
    # trust_env=False: no proxy from the environment may carry the request somewhere we did not check.
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False)


async def _read_body(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    if not response.is_success:
        raise FetchFailed(f"{url} answered HTTP {response.status_code}")
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"{url} is {int(declared)} bytes, more than the limit of {max_bytes}", max_bytes)
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise ResponseTooLarge(f"{url} is larger than the limit of {max_bytes} bytes", max_bytes)
    return bytes(body)


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeUrl(f"{url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeUrl(f"{url} must be an http or https URL")
    if not parsed.host:
        raise UnsafeUrl(f"{url} has no host")
    return parsed


def _resolve_blocking(host: str) -> list[IpAddress]:
    literal = _ip_or_none(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"the host {host!r} cannot be resolved ({exc})") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not addresses:
        raise FetchFailed(f"the host {host!r} resolves to no address")
    return addresses


def _check_addresses(url: httpx.URL, addresses: list[IpAddress], allowlist: str) -> None:
    hosts, networks = _parse_allowlist(allowlist)
    if url.host.lower().rstrip(".") in hosts:
        return
    for address in addresses:
        if any(address in network for network in networks):
            continue
        why = _why_not_public(address)
        if why:
            shown = "" if _ip_or_none(url.host) is not None else f" (it resolves to {address})"
            raise UnsafeUrl(f"{url} may not be used: {url.host}{shown} is {why}")


def _why_not_public(address: IpAddress) -> str | None:
    """None for a public address, otherwise what it is."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 host.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            why = _why_not_public(embedded)
            return f"{why} (embedded in IPv6)" if why else None
    for kind in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            name = kind.replace("_", "-")
            return f"{'an' if name[0] in 'aeiou' else 'a'} {name} address"
    if not address.is_global:
        return "not a public address"
    return None


def _parse_allowlist(allowlist: str) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts, networks = set(), []
    for entry in (e.strip() for e in allowlist.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return hosts, networks


def _ip_or_none(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
