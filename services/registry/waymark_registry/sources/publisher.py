"""Reading an HSDS 3.0 API: every service (full objects, following the pages) and organisation.

An address a network admin gives must not make the registry call into its own network (SSRF):
a source is https, on port 443 or an unprivileged port, and every address it resolves to is
globally reachable unicast (the kernel's `special_addresses`, as for webhooks). The check is
made by the client's resolver, so the connection goes only to an address just checked (a DNS
answer that changes between check and connect gets none); redirects are followed by hand, each
target checked again. `allow_insecure` (a setting for tests and a publisher on one's own
machine) lets http and any address through."""

import asyncio
import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from waymark_kernel.special_addresses import is_globally_reachable_unicast

PAGE_SIZE = 100
MAX_PAGES = 10_000  # a source that never says its last page stops here
MAX_PAGE_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 60.0  # each request, connecting included
HTTPS_PORT, HTTP_PORT = 443, 80
UNPRIVILEGED_PORTS = range(1024, 65536)
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class SourceFailed(Exception):
    """The source could not be read whole; nothing of it is applied."""


class UnsafeSource(SourceFailed):
    """The address may not be called: it could reach into the registry's own network."""


@dataclass(frozen=True)
class SourceGuard:
    allow_insecure: bool = False

    def check(self, url: str) -> yarl.URL:
        """Everything about a source's URL that needs no DNS; returns it parsed."""
        try:
            parsed = yarl.URL(url)
        except (ValueError, TypeError) as exc:
            raise UnsafeSource("the URL cannot be parsed") from exc
        if parsed.scheme not in (("https", "http") if self.allow_insecure else ("https",)):
            raise UnsafeSource("an HSDS source must use https")
        if not parsed.is_absolute() or not parsed.raw_host:
            raise UnsafeSource("the URL needs a host")
        if parsed.raw_user is not None or parsed.raw_password is not None:
            raise UnsafeSource("the URL may not carry credentials")
        port = parsed.port
        if port not in (HTTPS_PORT, HTTP_PORT) and port not in UNPRIVILEGED_PORTS:
            raise UnsafeSource("the URL may use port 443 or a port from 1024 to 65535")
        if port == HTTP_PORT and not self.allow_insecure:
            raise UnsafeSource("an HSDS source must use https")
        host = parsed.raw_host.strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return parsed  # a name: its addresses are checked as it is resolved
        self.check_address(str(address))
        return parsed

    def check_address(self, address: str) -> None:
        if self.allow_insecure:
            return
        if "%" in address or not is_globally_reachable_unicast(ipaddress.ip_address(address)):
            raise UnsafeSource("an HSDS source must be reached at public internet addresses")


class _CheckedResolver(AbstractResolver):
    """The system's resolver, every address it gives checked by the guard."""

    def __init__(self, guard: SourceGuard) -> None:
        self.guard = guard
        self.resolver = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            found = await self.resolver.resolve(host, port, family)
        except OSError as exc:
            raise SourceFailed(f"{host} does not resolve") from exc
        for result in found:
            self.guard.check_address(result["host"])
        return found

    async def close(self) -> None:
        await self.resolver.close()


class Publisher:
    """One HSDS 3.0 API, read through the guard."""

    def __init__(self, url: str, guard: SourceGuard) -> None:
        self.base = str(guard.check(url.rstrip("/")))
        self.guard = guard

    async def read(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(organizations, services): everything the API lists."""
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self.guard))
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
            services = await self._pages(client, "services", {"full": "true"})
            organizations = await self._pages(client, "organizations", {})
        return organizations, services

    async def _pages(
        self, client: aiohttp.ClientSession, listing: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        url = f"{self.base}/{listing}"
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            query = {**params, "page": str(page), "per_page": str(PAGE_SIZE)}
            where = f"{url} page {page}"
            body = await self._json(client, yarl.URL(url).update_query(query), where)
            contents = body.get("contents") if isinstance(body, dict) else None
            if not isinstance(contents, list) or not all(isinstance(c, dict) for c in contents):
                raise SourceFailed(f"{where}: not an HSDS page (no contents)")
            items += contents
            if body.get("last_page", True) or page >= body.get("total_pages", page):
                return items
        raise SourceFailed(f"{url}: more than {MAX_PAGES} pages")

    async def _json(self, client: aiohttp.ClientSession, url: yarl.URL, where: str) -> Any:
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with client.get(url, allow_redirects=False) as response:
                    if response.status in REDIRECTS and "Location" in response.headers:
                        target = url.join(yarl.URL(response.headers["Location"]))
                        url = self.guard.check(str(target))
                        continue
                    if response.status != 200:
                        raise SourceFailed(f"{where}: answered {response.status}")
                    body = bytearray()
                    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                        body += chunk
                        if len(body) > MAX_PAGE_BYTES:
                            raise SourceFailed(
                                f"{where}: a page larger than {MAX_PAGE_BYTES} bytes"
                            )
                    return await asyncio.to_thread(_parsed, bytes(body), where)
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            raise SourceFailed(f"{where}: {exc or type(exc).__name__}") from exc
        raise SourceFailed(f"{where}: more than {MAX_REDIRECTS} redirects")


def _parsed(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise SourceFailed(f"{where}: not JSON ({exc})") from exc
