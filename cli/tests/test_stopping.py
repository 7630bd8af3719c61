"""Ctrl-C while the network is busy: it stops in time, cleanly, and no event is lost."""

import asyncio
import collections
import uuid
from pathlib import Path

import httpx
import pytest

from cli.tests.support import STOP_SECONDS, launch, problems_in
from tests.e2e.flow import organisation_with_client, token
from tests.e2e.support import ADMIN_SECRET
from tests.e2e.test_personal_data import every_page

pytestmark = pytest.mark.integration  # starts networks of processes

CLIENTS = 4


async def keep_busy(base_url: str, admin: dict[str, str], created: list[str], stop: asyncio.Event) -> None:
    """Adds organisations and searches services until told to stop, as a partner system would;
    `created` gets the id of every organisation the network answered 201 for."""
    async with httpx.AsyncClient(base_url=base_url, headers=admin, timeout=30) as client:
        while not stop.is_set():
            try:
                response = await client.post("/v1/organizations", json={
                    "name": f"Busy {uuid.uuid4().hex[:8]}", "type": "cso", "country": "NP",
                })
                if response.status_code == 201:
                    created.append(response.json()["id"])
                else:  # the stopping network may only answer 503, to retry
                    assert response.status_code == 503, response.text
                    assert response.headers["Retry-After"]
                await client.get("/v1/services", params={"country": "NP"})
            except httpx.TransportError:  # closed: the network is gone
                await asyncio.sleep(0.05)


async def test_ctrl_c_under_load_stops_cleanly_and_every_event_reaches_the_feed_once(
    tmp_path: Path,
) -> None:
    network = launch("run", tmp_path / "var", {"WAYMARK_SEED_DEMO": "true"})
    try:
        # Ready: the banner was the last thing printed, and no migration or demo request before.
        printed = [line for line in network.output.read_text().splitlines() if line.strip()]
        assert printed[-1] == "Press Ctrl-C to stop.", printed
        assert [line for line in printed if "upgrade" in line or "HTTP Request" in line] == []
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
            admin = await token(client, "network-admin", ADMIN_SECRET)
            _, reader = await organisation_with_client(client, admin, "Feed reader", "LB")
        created: list[str] = []
        stop = asyncio.Event()
        clients = [
            asyncio.create_task(keep_busy(network.base_url, admin, created, stop))
            for _ in range(CLIENTS)
        ]
        while len(created) < 40:
            await asyncio.sleep(0.1)
        took = await asyncio.to_thread(network.interrupt)
        stop.set()
        await asyncio.gather(*clients)

        output = network.output.read_text()
        assert network.process.returncode == 0, output[-3000:]
        assert took < STOP_SECONDS, output[-3000:]
        assert problems_in(output) == [], output[-3000:]
    finally:
        network.kill()

    again = launch("run", tmp_path / "var", {}, port=int(network.base_url.rsplit(":", 1)[1]))
    try:
        async with httpx.AsyncClient(base_url=again.base_url, timeout=30) as client:
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                feed = await every_page(client, "/v1/events", reader, "after")
                announced = collections.Counter(
                    item["data"]["organization_id"] for item in feed
                    if item["type"] == "organization.created"
                )
                if set(created) <= set(announced) or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.5)
        assert set(created) - set(announced) == set()
        assert [key for key, count in announced.items() if count > 1] == []
        assert len({item["id"] for item in feed}) == len(feed)
    finally:
        again.interrupt()
        again.kill()
    assert again.process.returncode == 0
