"""The URL guard refuses webhook targets that could reach into a private network. These tests
use only the validator: they resolve no name that is not local and open no connection."""

import asyncio
from typing import Any, NoReturn

import pytest

from waymark_kernel.special_addresses import (
    IPV4_BLOCKS,
    IPV6_BLOCKS,
    Block,
    is_globally_reachable_unicast,
)
from waymark_notifications.webhooks.sender import WebhookSender
from waymark_notifications.webhooks.url_guard import UnsafeTarget, UrlGuard

HIGH_PORTS = (1024, 65535)

REFUSED = [
    "http://partner.example/hooks",  # not https
    "ftp://partner.example/hooks",
    "https://127.0.0.1/hooks",
    "https://10.0.0.1/hooks",
    "https://192.168.1.20/hooks",
    "https://100.64.0.1/hooks",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://0x7f000001/",
    "https://2130706433/",
    "https://017700000001/",
    "https://127.1/",
    "https://[::1]/",
    "https://[fe80::1%25eth0]/",
    "https://[fd00::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "https://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "https://user:password@partner.example/hooks",
    "https:///hooks",
    "not a url",
]
# Issue 17, finding 5: what the probe got accepted.
FINDING_5 = [
    "https://[64:ff9b:1::a00:1]/",  # local-use NAT64: 10.0.0.1 where NAT64 exists
    "https://[::127.0.0.1]/",  # IPv4-compatible
    "https://[::ffff:0:7f00:1]/",  # IPv4-translated
    "https://[fec0::1]/",  # site-local
    "https://[3fff::1]/",  # documentation
    "https://[5f00::1]/",  # SRv6 SIDs
    "https://1.1.1.1:0/",
    "https://1.1.1.1:22/",
    "https://partner.example:22/hooks",
]
# Every other way into non-public space the registries name, and what carries IPv4 inside.
NOT_GLOBAL = [
    "0.1.2.3", "100.127.255.254", "169.254.0.1", "172.31.255.255", "192.0.0.1", "192.0.0.8",
    "192.0.0.170", "192.0.2.1", "192.88.99.1", "198.18.0.1", "198.51.100.7", "203.0.113.9",
    "240.0.0.1", "255.255.255.255", "239.255.255.250",
    "[::]", "[::ffff:10.0.0.1]", "[64:ff9b::10.0.0.1]", "[64:ff9b::7f00:1]",
    "[64:ff9b:1:ffff::1.1.1.1]", "[100::1]", "[100:0:0:1::1]", "[2001:2::1]", "[2001:10::1]",
    "[2001:db8::1]", "[2002:a00:1::1]", "[2002:c0a8:101::1]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo, client 192.0.2.45 (documentation)
    "[2001:0:a00:1:8000:63bf:3fff:fdd2]",  # Teredo via a server at 10.0.0.1
    "[2001:1::4]", "[3fff:fff::1]", "[5f00:1::1]", "[fc00::1]", "[fdff::1]", "[fe80::1]",
    "[febf::1]", "[feff::1]", "[ff02::1]", "[ff0e::1]", "[::ffff:0:a00:1]", "[::a00:1]",
    "[4000::1]", "[1000::1]", "[e000::1]",
]
GLOBAL = [
    "1.1.1.1", "8.8.4.4", "192.0.0.9", "192.0.0.10", "192.31.196.1", "192.175.48.6",
    "[2606:4700::1111]", "[2a00:1450:4001::200e]", "[::ffff:1.1.1.1]", "[64:ff9b::101:101]",
    "[2002:101:101::1]", "[2001:0:4136:e378:8000:63bf:fefe:fefe]",  # Teredo client 1.1.1.1
    "[2001:1::1]", "[2001:4:112::1]", "[2620:4f:8000::1]", "[3000::1]",
]


@pytest.fixture
async def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*_args: object, **_kwargs: Any) -> NoReturn:
        raise AssertionError("the validator looked up a name")
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", refuse)


@pytest.mark.parametrize("url", REFUSED)
async def test_unsafe_targets_are_refused_without_a_lookup(url: str, no_dns: None) -> None:
    with pytest.raises(UnsafeTarget):
        await UrlGuard(allow_insecure=False, high_ports=HIGH_PORTS).check(url)


@pytest.mark.parametrize("url", FINDING_5)
async def test_finding_5_ipv6_forms_into_non_public_space_and_system_ports_are_refused(
    url: str, no_dns: None
) -> None:
    with pytest.raises(UnsafeTarget):
        await UrlGuard(allow_insecure=False, high_ports=HIGH_PORTS).check(url)


@pytest.mark.parametrize("host", NOT_GLOBAL)
async def test_finding_5_every_special_purpose_block_not_globally_reachable_is_refused(
    host: str, no_dns: None
) -> None:
    with pytest.raises(UnsafeTarget, match="public"):
        await UrlGuard(allow_insecure=False, high_ports=HIGH_PORTS).check(f"https://{host}/hooks")


@pytest.mark.parametrize("host", GLOBAL)
async def test_globally_reachable_unicast_addresses_pass(host: str, no_dns: None) -> None:
    guard = UrlGuard(allow_insecure=False, high_ports=HIGH_PORTS)
    assert (await guard.check(f"https://{host}:8443/hooks")).port == 8443


@pytest.mark.parametrize("blocks", [IPV4_BLOCKS, IPV6_BLOCKS])
def test_the_tables_decide_for_each_block_as_the_registry_says(blocks: tuple[Block, ...]) -> None:
    for block in blocks:
        first = block.network.network_address
        carries_ipv4 = (first.version == 6 and first.packed[:12] == bytes(10) + b"\xff\xff") \
            or str(block.network) in ("64:ff9b::/96", "2002::/16", "2001::/32")
        if not carries_ipv4:
            assert is_globally_reachable_unicast(first) is block.globally_reachable, block.name


@pytest.mark.parametrize(("port", "insecure", "allowed"), [
    (443, False, True), (8443, False, True), (1024, False, True), (65535, False, True),
    (80, False, False), (80, True, True), (0, True, False), (1, False, False), (22, True, False),
    (25, False, False), (1023, True, False),
])
def test_finding_5_only_ports_a_web_server_would_use_pass(
    port: int, insecure: bool, allowed: bool
) -> None:
    guard = UrlGuard(allow_insecure=insecure, high_ports=HIGH_PORTS)
    url = f"https://1.1.1.1:{port}/hooks"
    if allowed:
        assert guard.check_form(url).port == port
    else:
        with pytest.raises(UnsafeTarget, match="port"):
            guard.check_form(url)


def test_a_setting_narrows_the_high_ports() -> None:
    guard = UrlGuard(allow_insecure=False, high_ports=(8443, 8443))
    assert guard.check_form("https://1.1.1.1:8443/").port == 8443
    assert guard.check_form("https://1.1.1.1/").port == 443
    with pytest.raises(UnsafeTarget, match="port"):
        guard.check_form("https://1.1.1.1:8080/")


async def test_public_addresses_pass(no_dns: None) -> None:
    guard = UrlGuard(allow_insecure=False, high_ports=HIGH_PORTS)
    assert str(await guard.check("https://1.1.1.1:8443/hooks")) == "https://1.1.1.1:8443/hooks"
    assert (await guard.check("https://[2606:4700::1111]/hooks")).raw_host == "2606:4700::1111"
    assert guard.check_form("https://partner.example/hooks").host == "partner.example"


async def test_the_insecure_setting_allows_http_and_private_targets_only(no_dns: None) -> None:
    guard = UrlGuard(allow_insecure=True, high_ports=HIGH_PORTS)
    await guard.check("http://127.0.0.1:8080/hooks")
    await guard.check("https://10.0.0.1/hooks")
    for still_refused in ("http://user:pw@127.0.0.1/", "http://2130706433/", "ftp://127.0.0.1/"):
        with pytest.raises(UnsafeTarget):
            await guard.check(still_refused)


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    guard = UrlGuard(allow_insecure=False, high_ports=HIGH_PORTS)
    with pytest.raises(UnsafeTarget, match="public"):
        await guard.check("https://localhost/hooks")
    with pytest.raises(UnsafeTarget, match="public"):
        await guard.addresses("localhost", 443)
    assert set(await UrlGuard(allow_insecure=True, high_ports=HIGH_PORTS).addresses("localhost", 443)) & {
        "127.0.0.1", "::1"}


async def test_the_sender_connects_only_to_checked_addresses() -> None:
    """The HTTP client connects only to addresses the guard gives: a name that resolves to a
    private address at delivery time (DNS rebinding) gets no connection."""
    async with WebhookSender(UrlGuard(allow_insecure=False, high_ports=HIGH_PORTS), timeout_seconds=2) as sender:
        result = await sender.send("https://localhost:8443/hooks", "msg", "{}", ["whsec_AAAA"])
    assert result.status_code is None
    assert not result.succeeded
    assert result.error is not None
    assert result.error.startswith("Refused:")
