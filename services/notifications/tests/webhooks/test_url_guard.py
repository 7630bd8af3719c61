"""The URL guard refuses webhook targets that could reach into a private network. These tests
use only the validator: they resolve no name that is not local and open no connection."""

import asyncio

import pytest
from waymark_notifications.webhooks.sender import WebhookSender
from waymark_notifications.webhooks.url_guard import UnsafeTarget, UrlGuard

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


@pytest.fixture
async def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*_args, **_kwargs):
        raise AssertionError("the validator looked up a name")
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", refuse)


@pytest.mark.parametrize("url", REFUSED)
async def test_unsafe_targets_are_refused_without_a_lookup(url: str, no_dns: None) -> None:
    with pytest.raises(UnsafeTarget):
        await UrlGuard(allow_insecure=False).check(url)


async def test_public_addresses_pass(no_dns: None) -> None:
    guard = UrlGuard(allow_insecure=False)
    assert str(await guard.check("https://1.1.1.1:8443/hooks")) == "https://1.1.1.1:8443/hooks"
    assert (await guard.check("https://[2606:4700::1111]/hooks")).raw_host == "2606:4700::1111"
    assert guard.check_form("https://partner.example/hooks").host == "partner.example"


async def test_the_insecure_setting_allows_http_and_private_targets_only(no_dns: None) -> None:
    guard = UrlGuard(allow_insecure=True)
    await guard.check("http://127.0.0.1:8080/hooks")
    await guard.check("https://10.0.0.1/hooks")
    for still_refused in ("http://user:pw@127.0.0.1/", "http://2130706433/", "ftp://127.0.0.1/"):
        with pytest.raises(UnsafeTarget):
            await guard.check(still_refused)


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    guard = UrlGuard(allow_insecure=False)
    with pytest.raises(UnsafeTarget, match="public"):
        await guard.check("https://localhost/hooks")
    with pytest.raises(UnsafeTarget, match="public"):
        await guard.addresses("localhost", 443)
    assert set(await UrlGuard(allow_insecure=True).addresses("localhost", 443)) & {
        "127.0.0.1", "::1"}


async def test_the_sender_connects_only_to_checked_addresses() -> None:
    """The HTTP client connects only to addresses the guard gives: a name that resolves to a
    private address at delivery time (DNS rebinding) gets no connection."""
    async with WebhookSender(UrlGuard(allow_insecure=False), timeout_seconds=2) as sender:
        result = await sender.send("https://localhost:9/hooks", "msg", "{}", ["whsec_AAAA"])
    assert result.status_code is None
    assert not result.succeeded
    assert result.error.startswith("Refused:")
