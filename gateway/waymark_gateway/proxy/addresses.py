"""The address a request comes from, for the limits kept per address.

`X-Forwarded-For` is honoured only when the immediate peer is a trusted proxy
(WAYMARK_TRUSTED_PROXIES): then the right-most address in it that is not a trusted proxy is the
caller, since every address left of it may have been written by the caller itself."""

from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.requests import Request


class ClientAddresses:
    def __init__(self, trusted_proxies: list[IPv4Network | IPv6Network]) -> None:
        self.trusted_proxies = trusted_proxies

    def is_trusted(self, address: str) -> bool:
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
