"""HSDS sources a network admin configures, synchronised by the registry's scheduler from an
HSDS 3.0 publisher the test serves on loopback (the sources' loopback permission is the test
setting `hsds_source_allow_insecure`)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.registry.tests.conftest import FakePublisher, Registry, StartRegistry
from waymark_kernel.auth import CASEWORKER, ORG_ADMIN
from waymark_kernel.clock import utcnow
from waymark_kernel.db import Database
from waymark_registry.sources.publisher import Publisher, SourceGuard, UnsafeSource
from waymark_registry.sources.scheduler import Scheduler

SOURCES = "/v1/hsds/sources"
RUN_WAIT_SECONDS = 300  # a bound on the wait for the registry loop's first run


@pytest.fixture
async def registry(start_registry: StartRegistry) -> AsyncIterator[Registry]:
    """The registry whose sources may be on loopback; its own loop left asleep, so that each
    test's schedulers, on a clock of the test's, are the only ones to run."""
    async with start_registry(hsds_source_allow_insecure=True) as registry:
        yield registry


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
async def schedulers(database_url: str) -> AsyncIterator[Callable[[Clock], Scheduler]]:
    """Schedulers of their own processes: each with its own connections to the database."""
    databases: list[Database] = []

    def scheduler(clock: Clock) -> Scheduler:
        databases.append(Database(database_url))
        return Scheduler(databases[-1], SourceGuard(allow_insecure=True), clock=clock)

    yield scheduler
    for database in databases:
        await database.dispose()


async def configure(registry: Registry, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "Leeds HSDS", "url": url, "interval_minutes": 60, **fields}
    response = await registry.client.post(SOURCES, json=body, headers=registry.network_admin)
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == f'"{response.json()["version"]}"'
    source: dict[str, Any] = response.json()
    return source


async def runs(registry: Registry, source: dict[str, Any]) -> list[dict[str, Any]]:
    response = await registry.client.get(f"{SOURCES}/{source['id']}/runs",
                                         headers=registry.network_admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def hsds_services(registry: Registry) -> dict[str, dict[str, Any]]:
    """Every service in the directory, active or not, by id, as its HSDS dataset gives them."""
    response = await registry.client.get("/v1/hsds/dataset", headers=registry.network_admin)
    assert response.status_code == 200, response.text
    return {s["id"]: s for organization in response.json() for s in organization["services"]}


async def test_a_source_syncs_when_due_and_not_before_and_withdraws_what_disappears(
    registry: Registry, publisher: tuple[FakePublisher, str],
    schedulers: Callable[[Clock], Scheduler],
) -> None:
    published, url = publisher
    source = await configure(registry, url)
    clock = Clock()
    scheduler = schedulers(clock)

    first = await scheduler.run_due()
    clock.advance(59)
    too_early = await scheduler.run_due()
    gone = published.services.pop(0)
    clock.advance(2)
    second = await scheduler.run_due()
    recorded = await runs(registry, source)
    services = await hsds_services(registry)
    shown = (await registry.client.get(f"{SOURCES}/{source['id']}",
                                       headers=registry.network_admin)).json()

    assert [run.outcome for run in first] == ["succeeded"]
    assert too_early == []
    assert [run.outcome for run in second] == ["succeeded"]
    assert [run["outcome"] for run in recorded] == ["succeeded", "succeeded"]  # newest first
    assert recorded[1]["report"]["services"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert recorded[1]["report"]["organizations"]["created"] == 1
    assert recorded[0]["report"]["services"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert recorded[0]["report"]["withdrawn"] == 1
    assert recorded[0]["finished_at"] is not None
    assert recorded[0]["error"] is None
    assert services[gone["id"]]["status"] == "inactive"
    assert {services[s["id"]]["status"] for s in published.services} == {"active"}
    assert shown["last_run"]["id"] == recorded[0]["id"]
    assert datetime.fromisoformat(shown["next_run_at"]) == clock.now + timedelta(minutes=60)


async def test_a_source_failing_mid_way_changes_nothing_and_its_run_records_why(
    registry: Registry, publisher: tuple[FakePublisher, str],
    schedulers: Callable[[Clock], Scheduler],
) -> None:
    published, url = publisher
    source = await configure(registry, url, interval_minutes=5)
    clock = Clock()
    scheduler = schedulers(clock)
    await scheduler.run_due()
    before = await hsds_services(registry)
    published.services[0]["name"] = "Advice desk and legal clinic"
    published.services.append(published.service("Language cafe"))
    published.services.pop(1)
    published.failing_page = 2  # of /services: the first page was read, the rest never comes

    clock.advance(5)
    failed = await scheduler.run_due()
    recorded = await runs(registry, source)

    assert [run.outcome for run in failed] == ["failed"]
    assert recorded[0]["outcome"] == "failed"
    assert recorded[0]["report"] is None
    assert "nothing was changed" in recorded[0]["error"]
    assert f"{url}/services page 2: answered 500" in recorded[0]["error"]
    assert await hsds_services(registry) == before


async def test_a_refused_import_is_a_failed_run_that_changes_nothing(
    registry: Registry, publisher: tuple[FakePublisher, str],
    schedulers: Callable[[Clock], Scheduler],
) -> None:
    published, url = publisher
    source = await configure(registry, url)
    published.services[1]["service_at_locations"][0]["location"]["latitude"] = 100

    failed = await schedulers(Clock()).run_due()
    recorded = await runs(registry, source)

    assert [run.outcome for run in failed] == ["failed"]
    assert "nothing was imported" in recorded[0]["error"]
    assert "latitude" in recorded[0]["error"]
    assert await hsds_services(registry) == {}


async def test_two_schedulers_on_one_database_sync_a_source_once(
    registry: Registry, publisher: tuple[FakePublisher, str],
    schedulers: Callable[[Clock], Scheduler],
) -> None:
    published, url = publisher
    source = await configure(registry, url)
    clock = Clock()

    done = await asyncio.gather(schedulers(clock).run_due(), schedulers(clock).run_due())

    assert sorted(len(runs_of_one) for runs_of_one in done) == [0, 1]
    assert len(await runs(registry, source)) == 1
    assert published.pages_served["/organizations"] == 1
    assert len(await hsds_services(registry)) == 3


async def test_a_source_that_moved_is_followed_to_its_new_address_and_read_whole(
    registry: Registry, publisher: tuple[FakePublisher, str],
    schedulers: Callable[[Clock], Scheduler],
) -> None:
    published, url = publisher
    published.services[0]["alert"] = "Closed on bank holidays. " * 8000  # a page of 200 KB
    await configure(registry, url.replace("/hsds", "/moved"))

    runs_done = await schedulers(Clock()).run_due()

    assert [run.outcome for run in runs_done] == ["succeeded"]
    assert runs_done[0].report is not None
    assert runs_done[0].report["services"]["created"] == 3
    assert runs_done[0].report["not_kept"] == {"address.postal_code": 3, "service.alert": 1}


async def test_a_disabled_source_is_not_synchronised_and_a_requested_run_is_due_at_once(
    registry: Registry, publisher: tuple[FakePublisher, str],
    schedulers: Callable[[Clock], Scheduler],
) -> None:
    _, url = publisher
    source = await configure(registry, url, enabled=False)
    clock = Clock()
    scheduler = schedulers(clock)

    disabled = await scheduler.run_due()
    read = await registry.client.get(f"{SOURCES}/{source['id']}", headers=registry.network_admin)
    enabled = await registry.client.patch(
        f"{SOURCES}/{source['id']}", json={"enabled": True},
        headers={**registry.network_admin, "If-Match": read.headers["ETag"]},
    )
    first = await scheduler.run_due()
    clock.advance(1)
    requested = await registry.client.post(f"{SOURCES}/{source['id']}/runs",
                                           headers=registry.network_admin)
    clock.advance(1)
    again = await scheduler.run_due()

    assert disabled == []
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True
    assert [run.outcome for run in first] == ["succeeded"]
    assert requested.status_code == 202
    assert [run.outcome for run in again] == ["succeeded"]


async def test_the_registry_loop_synchronises_a_new_source(
    start_registry: StartRegistry, publisher: tuple[FakePublisher, str]
) -> None:
    _, url = publisher
    async with start_registry(hsds_source_allow_insecure=True,
                              hsds_sync_check_seconds=0.1) as registry:
        source = await configure(registry, url)
        async with asyncio.timeout(RUN_WAIT_SECONDS):
            while not [run for run in await runs(registry, source) if run["finished_at"]]:
                await asyncio.sleep(0.1)
        recorded = await runs(registry, source)

    assert [run["outcome"] for run in recorded] == ["succeeded"]
    assert recorded[0]["report"]["services"]["created"] == 3


async def test_changing_a_source_needs_its_etag(
    registry: Registry, publisher: tuple[FakePublisher, str]
) -> None:
    _, url = publisher
    source = await configure(registry, url)
    path, admin = f"{SOURCES}/{source['id']}", registry.network_admin

    missing = await registry.client.patch(path, json={"interval_minutes": 30}, headers=admin)
    stale = await registry.client.patch(path, json={"interval_minutes": 30},
                                        headers={**admin, "If-Match": '"7"'})
    changed = await registry.client.patch(path, json={"interval_minutes": 30},
                                          headers={**admin, "If-Match": '"1"'})
    url_change = await registry.client.patch(path, json={"url": "https://example.org/hsds"},
                                             headers={**admin, "If-Match": '"2"'})
    deleted_stale = await registry.client.delete(path, headers={**admin, "If-Match": '"1"'})
    deleted = await registry.client.delete(path, headers={**admin, "If-Match": '"2"'})
    listed = await registry.client.get(SOURCES, headers=admin)

    assert (missing.status_code, missing.json()["type"].rsplit("/", 1)[1]) == (
        428, "precondition-required"
    )
    assert stale.status_code == 412
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'
    assert changed.json()["interval_minutes"] == 30
    assert url_change.status_code == 422
    assert deleted_stale.status_code == 412
    assert deleted.status_code == 204
    assert listed.json()["items"] == []


async def test_a_source_is_refused_when_it_is_no_http_api_or_configured_twice(
    registry: Registry, publisher: tuple[FakePublisher, str]
) -> None:
    _, url = publisher
    await configure(registry, url)
    admin = registry.network_admin

    twice = await registry.client.post(SOURCES, json={"name": "Again", "url": url + "/"},
                                       headers=admin)
    ftp = await registry.client.post(SOURCES, json={"name": "FTP", "url": "ftp://example.org/"},
                                     headers=admin)
    often = await registry.client.post(
        SOURCES, json={"name": "Often", "url": "https://example.org/hsds", "interval_minutes": 1},
        headers=admin,
    )
    unknown_crosswalk = await registry.client.post(
        SOURCES, json={"name": "X", "url": "https://example.org/hsds", "crosswalks": ["nope"]},
        headers=admin,
    )
    listed = await registry.client.get(SOURCES, headers=admin)

    assert twice.status_code == 409
    assert ftp.status_code == 422
    assert "https" in ftp.json()["detail"]
    assert often.status_code == 422
    assert unknown_crosswalk.status_code == 422
    assert len(listed.json()["items"]) == 1


async def test_without_the_test_setting_a_source_on_loopback_or_plain_http_is_refused(
    start_registry: StartRegistry
) -> None:
    async with start_registry() as registry:
        answers = [
            await registry.client.post(SOURCES, json={"name": "Here", "url": url},
                                       headers=registry.network_admin)
            for url in ("https://127.0.0.1:8443/hsds", "http://example.org/hsds",
                        "https://10.1.2.3/hsds", "https://[::1]/hsds",
                        "https://user:secret@example.org/hsds", "https://example.org:22/hsds")
        ]
        listed = await registry.client.get(SOURCES, headers=registry.network_admin)

    assert [answer.status_code for answer in answers] == [422] * 6
    assert listed.json()["items"] == []


async def test_a_name_resolving_to_loopback_gets_no_connection() -> None:
    """A name passes the URL's check; its addresses are checked as it is resolved."""
    publisher = Publisher("https://localhost:8443/hsds", SourceGuard())

    with pytest.raises(UnsafeSource, match="public internet addresses"):
        await publisher.read()


async def test_only_a_network_admin_manages_sources(
    registry: Registry, publisher: tuple[FakePublisher, str]
) -> None:
    _, url = publisher
    source = await configure(registry, url)
    organization = await registry.organization()
    path = f"{SOURCES}/{source['id']}"
    answers = []
    for role in (ORG_ADMIN, CASEWORKER):
        headers = {**registry.headers(organization["id"], role), "If-Match": '"1"'}
        answers += [
            await registry.client.get(SOURCES, headers=headers),
            await registry.client.post(SOURCES, json={"name": "Mine", "url": url},
                                       headers=headers),
            await registry.client.get(path, headers=headers),
            await registry.client.patch(path, json={"enabled": False}, headers=headers),
            await registry.client.delete(path, headers=headers),
            await registry.client.get(f"{path}/runs", headers=headers),
            await registry.client.post(f"{path}/runs", headers=headers),
        ]
    kept = await registry.client.get(path, headers=registry.network_admin)

    assert {answer.status_code for answer in answers} == {403}
    assert all(answer.headers["content-type"] == "application/problem+json" for answer in answers)
    assert kept.json()["enabled"] is True
    assert kept.json()["version"] == 1
    assert len((await registry.client.get(SOURCES, headers=registry.network_admin)).json()[
        "items"]) == 1
