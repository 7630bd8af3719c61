"""Repeated failed sign-ins slow the answers to that email from that address, then lock it
there for a while; refused attempts are audited (a few, not a flood), and neither the delay
nor the refusal tells whether the email has an account."""

import asyncio
import time

import pytest

from gateway.tests.conftest import Serve, Standin, StartGateway
from waymark_gateway.proxy.ratelimit import PERSON_SIGN_INS, RateLimits
from waymark_gateway.settings import GatewaySettings

from .conftest import People, replicas

WRONG_PASSWORD = "Not-The-Right-One-99"
ATTACKER = {"X-Forwarded-For": "198.51.100.66"}


async def test_each_failure_adds_a_step_of_delay_up_to_the_cap() -> None:
    limits = RateLimits.from_settings(GatewaySettings(
        sign_in_delay_per_failure_seconds=0.25, sign_in_max_delay_seconds=2.0,
    ))
    delays = []
    for _ in range(10):
        delays.append(await limits.delay_for(PERSON_SIGN_INS, "her-email", "198.51.100.66"))
        await limits.count_failure(PERSON_SIGN_INS, "her-email", "198.51.100.66")
    assert delays == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.0], abs=0.01)
    assert await limits.delay_for(PERSON_SIGN_INS, "her-email", "192.0.2.10") == 0.0
    assert await limits.delay_for(PERSON_SIGN_INS, "another-email", "198.51.100.66") == 0.0


async def _timed(people: People, email: str, password: str, code: str | None) -> tuple[int, float]:
    started = time.monotonic()
    response = await people.client.post(
        "/v1/auth/sessions", json={"email": email, "password": password, "code": code},
        headers=ATTACKER,
    )
    return response.status_code, time.monotonic() - started


async def test_failures_slow_the_next_answers_for_known_and_unknown_emails_alike(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(
        start_gateway, standin, serve, trusted_proxies="203.0.113.0/24",
        sign_in_delay_per_failure_seconds=0.3, sign_in_max_delay_seconds=0.9,
    ) as (people, _):
        person = await people.enrol()
        for email in (person.email, "nobody-at-all@example.org"):
            timings = [await _timed(people, email, WRONG_PASSWORD, "000000") for _ in range(5)]
            assert [status for status, _ in timings] == [401] * 5
            waited = [seconds for _, seconds in timings]
            assert waited[2] >= 0.6
            assert waited[3] >= 0.9
            assert waited[4] >= 0.9
            assert waited[0] < waited[3] - 0.5

        status, seconds = await _timed(people, person.email, person.password, person.code())
        assert status == 201
        assert seconds >= 0.9
        elsewhere = await people.client.post("/v1/auth/sessions", headers={
            "X-Forwarded-For": "192.0.2.10"}, json={
            "email": person.email, "password": person.password, "code": person.code(1)})
        assert elsewhere.status_code == 201


async def test_a_delayed_answer_does_not_hold_up_other_requests(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(
        start_gateway, standin, serve, trusted_proxies="203.0.113.0/24",
        sign_in_delay_per_failure_seconds=2.0, sign_in_max_delay_seconds=2.0,
    ) as (people, _):
        email = "nobody-at-all@example.org"
        await _timed(people, email, WRONG_PASSWORD, None)
        delayed = asyncio.create_task(_timed(people, email, WRONG_PASSWORD, None))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        assert (await people.client.get("/healthz")).status_code == 200
        assert time.monotonic() - started < 1.0
        assert not delayed.done()
        assert (await delayed)[1] >= 2.0


async def test_attempts_refused_while_locked_are_audited_a_few_times_only(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(
        start_gateway, standin, serve, trusted_proxies="203.0.113.0/24",
        sign_in_failure_limit_per_account="2/hour", sign_in_delay_per_failure_seconds=0,
        sign_in_refusals_audited_per_account="2/hour",
    ) as (people, _):
        person = await people.enrol()
        answers = {}
        for email in (person.email, "nobody-at-all@example.org"):
            statuses = [(await _timed(people, email, WRONG_PASSWORD, "000000"))[0]
                        for _ in range(8)]
            assert statuses == [401, 401] + [429] * 6
            locked = await people.client.post("/v1/auth/sessions", headers=ATTACKER, json={
                "email": email, "password": WRONG_PASSWORD, "code": "000000"})
            answers[email] = (locked.status_code, locked.json()["type"], locked.json()["detail"])
        assert answers[person.email] == answers["nobody-at-all@example.org"]

        hers = [(e["result"], e["address"]) for e in await people.audit()
                if e["target"] == person.person["id"] and e["action"] == "sign_in"]
        assert hers == [("locked", "198.51.100.66")] * 2 + [("wrong_password", "198.51.100.66")] * 2
