"""The gateway serves the pages at its own address in both modes, and the API, documents
and operations stay where they were."""

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import Network, clean_up, start, stop
from web.tests.support import matched


@pytest.fixture(params=["run", "up"])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    if request.param == "run":
        network = start("run", tmp_path, {"WAYMARK_SEED_DEMO": "false"})
        yield network
        stop(network)
        return
    unique = uuid.uuid4().hex[:10]
    prefix, exchange, queues = f"web_{unique}", f"web.{unique}.events", f"web.{unique}"
    network = start("up", tmp_path, {
        "WAYMARK_DATABASE_PREFIX": prefix, "WAYMARK_EVENT_EXCHANGE": exchange,
        "WAYMARK_QUEUE_PREFIX": queues, "WAYMARK_SEED_DEMO": "false",
    })
    try:
        yield network
    finally:
        stop(network)
        asyncio.run(clean_up(prefix, exchange, queues))


def test_pages_and_api_share_the_gateways_address(network: Network) -> None:
    with httpx.Client(base_url=network.base_url, timeout=10) as client:
        page = client.get("/sign-in", headers={"accept-language": "fr"})
        start_page = client.get("/")
        api = client.get("/v1/cases")
        documents = client.get("/openapi.json")
        health = client.get("/healthz")
        missing_api = client.get("/v1/no-such-collection")
        stylesheet = client.get(matched(r'href="(/static/[^"]+\.css)"', page.text),
                                headers={"accept-encoding": "gzip"})

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr" dir="ltr">' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert start_page.status_code == 303
    assert start_page.headers["location"] == "/sign-in?next=/"
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"
    assert documents.status_code == 200
    assert "/v1/cases" in documents.json()["paths"]
    assert health.status_code == 200
    assert missing_api.headers["content-type"].startswith("application/")
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-encoding"] == "gzip"
    assert stylesheet.headers["cache-control"] == "public, max-age=31536000, immutable"
