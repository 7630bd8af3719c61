"""The address a request comes from, for the limits kept per address.

`X-Forwarded-For` is honoured only when the immediate peer is a trusted proxy
(WAYMARK_TRUSTED_PROXIES): then the right-most address in it that is not a trusted proxy is the
caller, since every address left of it may have been written by the caller itself. The same
rule decides what the services are told: a trusted proxy's forwarding headers are passed on, with
the proxy appended to the chain; anyone else's are replaced by the peer's address alone."""

from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.requests import Request
from starlette.types import Scope

Headers = list[tuple[bytes, bytes]]
# Headers in which a proxy describes the original request; only a trusted proxy's are true.
FORWARDING_HEADERS = frozenset({
    b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port",
    b"x-real-ip", b"forwarded",
})


class ClientAddresses:
    def __init__(self, trusted_proxies: list[IPv4Network | IPv6Network]) -> None:
        self.trusted_proxies = trusted_proxies

    def is_trusted(self, address: str) -> bool:
        if not self.trusted_proxies:  # the usual case, spared parsing an address per request
            return False
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.trusted_proxies)

    def of(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        if peer is None or not self.is_trusted(peer):
            return peer
        chain = [
            address.strip() for header in request.headers.getlist("x-forwarded-for")
            for address in header.split(",") if address.strip()
        ]
        for address in reversed(chain):
            if not self.is_trusted(address):
                return address
        return chain[0] if chain else peer  # trusted proxies all the way: the farthest one

    def is_https(self, scope: Scope) -> bool:
        """Whether the caller reached us over HTTPS: directly, or as a trusted proxy says."""
        if scope.get("scheme") == "https":
            return True
        client = scope.get("client")
        if not client or not self.is_trusted(client[0]):
            return False
        protos = [value for name, value in scope["headers"] if name == b"x-forwarded-proto"]
        return bool(protos) and protos[-1].split(b",")[-1].strip().lower() == b"https"

    def forwarding_headers(self, scope: Scope, headers: Headers) -> Headers:
        """`headers` for the next hop with honest forwarding headers: a trusted peer's chain
        with the peer appended, or the peer's address alone in place of what the caller wrote."""
        client = scope.get("client")
        if client and self.is_trusted(client[0]):
            chain = [value for name, value in headers if name == b"x-forwarded-for"]
            kept = [(name, value) for name, value in headers if name != b"x-forwarded-for"]
            return [*kept, (b"x-forwarded-for", b", ".join([*chain, client[0].encode("latin-1")]))]
        kept = [(name, value) for name, value in headers if name not in FORWARDING_HEADERS]
        if client:
            kept.append((b"x-forwarded-for", client[0].encode("latin-1")))
        return kept
