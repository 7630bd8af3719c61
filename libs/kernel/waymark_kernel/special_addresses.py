"""Which IP addresses a request to an address someone gave (a webhook, an HSDS source) may reach:
globally reachable unicast only.

The tables are the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890, with the
blocks added since), each block with its "Globally Reachable" column; the most specific block
that holds an address decides. Blocks the registries mark N/A or deprecated count as not
reachable, except those that carry an IPv4 address inside: that is checked as IPv4 (and the
local-use NAT64 prefix, where the operator chooses where it sits, is refused). Outside the registries, an IPv4 address must
not be multicast or reserved (IANA IPv4 Address Space Registry) and an IPv6 address must be in
2000::/3, the only space IANA allocates for global unicast (IPv6 Address Space Registry)."""

import ipaddress
from typing import NamedTuple

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Block(NamedTuple):
    network: IpNetwork
    name: str
    source: str
    globally_reachable: bool


def _blocks(*rows: tuple[str, str, str, bool]) -> tuple[Block, ...]:
    return tuple(Block(ipaddress.ip_network(prefix), name, source, reachable)
                 for prefix, name, source, reachable in rows)


# IANA IPv4 Special-Purpose Address Registry, and the multicast block of the IPv4 space.
IPV4_BLOCKS = _blocks(
    ("0.0.0.0/8", "This network", "RFC 791", False),
    ("0.0.0.0/32", "This host on this network", "RFC 1122", False),
    ("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    ("100.64.0.0/10", "Shared Address Space", "RFC 6598", False),
    ("127.0.0.0/8", "Loopback", "RFC 1122", False),
    ("169.254.0.0/16", "Link Local", "RFC 3927", False),
    ("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", False),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880", False),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880", False),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    ("192.52.193.0/24", "AMT", "RFC 7450", True),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", False),
    ("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    ("224.0.0.0/4", "Multicast (IPv4 Address Space Registry)", "RFC 5771", False),
    ("240.0.0.0/4", "Reserved", "RFC 1112", False),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 919", False),
)

# IANA IPv6 Special-Purpose Address Registry, and the blocks of the IPv6 space outside 2000::/3
# that a host could still be given.
IPV6_BLOCKS = _blocks(
    ("::1/128", "Loopback Address", "RFC 4291", False),
    ("::/128", "Unspecified Address", "RFC 4291", False),
    ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", True),
    ("64:ff9b:1::/48", "Local-Use IPv4/IPv6 Translation", "RFC 8215", False),
    ("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    ("2001::/32", "TEREDO", "RFC 4380", False),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    ("2001:2::/48", "Benchmarking", "RFC 5180", False),
    ("2001:3::/32", "AMT", "RFC 7450", True),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", False),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", True),
    ("2001:db8::/32", "Documentation", "RFC 3849", False),
    ("2002::/16", "6to4", "RFC 3056", False),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    ("3fff::/20", "Documentation", "RFC 9637", False),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    ("fc00::/7", "Unique-Local", "RFC 4193", False),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
    ("fec0::/10", "Site-Local (deprecated, IPv6 Address Space Registry)", "RFC 3879", False),
    ("ff00::/8", "Multicast (IPv6 Address Space Registry)", "RFC 4291", False),
)
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")  # IANA IPv6 Address Space Registry
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def block_of(address: IpAddress) -> Block | None:
    """The most specific special-purpose block holding the address, if any."""
    blocks = IPV4_BLOCKS if address.version == 4 else IPV6_BLOCKS
    holding = [block for block in blocks if address in block.network]
    return max(holding, key=lambda block: block.network.prefixlen, default=None)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses a packet to this IPv6 address reaches through a translator or a
    tunnel (IPv4-mapped, NAT64 well-known prefix, 6to4, Teredo server and client); None
    when the address carries none."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return None


def is_globally_reachable_unicast(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return False
        carried = embedded_ipv4(address)
        if carried is not None:
            return all(is_globally_reachable_unicast(inner) for inner in carried)
        if address not in GLOBAL_UNICAST:  # ::/96 (IPv4-compatible), ::ffff:0:0:0/96 too
            return False
    block = block_of(address)
    return block is None or block.globally_reachable
