"""Webhook targets must be https, reach only globally reachable unicast addresses (see the
kernel's `special_addresses`) and use a port a web server would, so that a subscriber cannot
make Waymark call into its own network or a system service (SSRF). Checked at registration and at
every delivery; a delivery connects only to the addresses `addresses` has just checked."""

import asyncio
import functools
import ipaddress
import socket

import yarl
from waymark_kernel.special_addresses import IpAddress, is_globally_reachable_unicast

RESOLVE_TIMEOUT_SECONDS = 5.0
HTTPS_PORT, HTTP_PORT = 443, 80


class UnsafeTarget(Exception):
    """The URL may not receive webhooks."""


def _host(url: yarl.URL) -> str:
    return url.raw_host.lower().rstrip(".")


def _literal_address(host: str) -> IpAddress | None:
    """The address a host names literally; None for a DNS name; refuses legacy numeric forms."""
    if ":" in host:
        if "%" in host:
            raise UnsafeTarget("IPv6 zone identifiers are not accepted in webhook URLs.")
        return ipaddress.IPv6Address(host)
    try:
        return ipaddress.IPv4Address(host)  # only the canonical dotted quad parses here
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
    except OSError:
        pass
    else:  # 2130706433, 0x7f000001, 017700000001, 127.1: what inet_aton would turn into an address
        raise UnsafeTarget("Numeric host forms other than a dotted-quad IPv4 address are refused.")
    if host.rsplit(".", 1)[-1].isdigit():
        raise UnsafeTarget("The host is neither an IP address nor a DNS name.")
    return None


class UrlGuard:
    def __init__(self, *, allow_insecure: bool, high_ports: tuple[int, int]) -> None:
        self.allow_insecure = allow_insecure
        self.high_ports = high_ports
        # Every delivery checks its URL again, and a URL's form passes or fails for good.
        self.check_form = functools.lru_cache(maxsize=4096)(self._check_form)

    def _check_form(self, url: str) -> yarl.URL:
        """Everything that can be checked without DNS; returns the parsed URL."""
        try:
            parsed = yarl.URL(url)
        except (ValueError, TypeError) as exc:
            raise UnsafeTarget("The URL cannot be parsed.") from exc
        allowed_schemes = ("https", "http") if self.allow_insecure else ("https",)
        if parsed.scheme not in allowed_schemes:
            raise UnsafeTarget("Webhook URLs must use https.")
        if not parsed.is_absolute() or not parsed.raw_host:
            raise UnsafeTarget("The URL needs a host.")
        if parsed.raw_user is not None or parsed.raw_password is not None:
            raise UnsafeTarget("Webhook URLs may not carry credentials.")
        self.check_port(parsed.port)
        address = _literal_address(_host(parsed))
        if address is not None:
            self.check_address(address)
        return parsed

    def check_port(self, port: int | None) -> None:
        low, high = self.high_ports
        if port == HTTPS_PORT or (port == HTTP_PORT and self.allow_insecure) \
                or (port is not None and low <= port <= high):
            return
        raise UnsafeTarget(f"Webhook URLs may use port 443 or a port from {low} to {high}.")

    def check_address(self, address: IpAddress) -> None:
        if not self.allow_insecure and not is_globally_reachable_unicast(address):
            raise UnsafeTarget("Webhook URLs must reach only public internet addresses.")

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address of `host`; refused unless all of them are public."""
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM),
                timeout=RESOLVE_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError) as exc:
            raise UnsafeTarget("The URL's host name does not resolve.") from exc
        addresses = []
        for *_, socket_address in infos:
            address = ipaddress.ip_address(socket_address[0])
            self.check_address(address)
            addresses.append(str(address))
        if not addresses:
            raise UnsafeTarget("The URL's host name does not resolve.")
        return addresses

    async def addresses(self, host: str, port: int) -> list[str]:
        """Where a delivery to `host` may connect now: its own address if it is one, else
        every address its name resolves to, all of them checked."""
        address = _literal_address(host)
        if address is None:
            return await self.resolve(host, port)
        self.check_address(address)
        return [str(address)]

    async def check(self, url: str) -> yarl.URL:
        """The registration check: the URL's form and, for a DNS name, every address it has."""
        parsed = self.check_form(url)
        if not self.allow_insecure and _literal_address(_host(parsed)) is None:
            await self.resolve(_host(parsed), parsed.port or 443)
        return parsed
