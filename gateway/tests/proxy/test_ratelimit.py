"""Per-role limits with draft-10 RateLimit headers, counters shared in Redis by two gateway
processes, fail-open when Redis goes away, and the stricter limits on failed token requests."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from gateway.tests.conftest import Gateway, Serve, Standin, StartGateway, StartProcess
from waymark_gateway.identity.keys import load_or_create_signing_key
from waymark_gateway.proxy.ratelimit import (
    MEMORY_BUCKETS_PRUNED_FROM,
    MemoryBuckets,
    Policy,
    counted_address,
)
from waymark_kernel.auth import CASEWORKER, NETWORK_ADMIN, VIEWER
from waymark_kernel.settings import Settings
from waymark_kernel.testing import free_port_block

REDIS_URL = "redis://127.0.0.1:6379/0"


class TcpRelay:
    """A loopback TCP relay to a port; `stop()` closes it and cuts every connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.connections:
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.connections.update((writer, target_writer))
        await asyncio.gather(self._pipe(reader, target_writer), self._pipe(target_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


async def test_a_client_is_limited_by_its_role_and_told_its_quota(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with serve(standin("registry")) as registry_url, start_gateway(
        registry_url=registry_url, rate_limit="100/minute",
        rate_limit_by_role={CASEWORKER: "2/minute"},
    ) as gateway:
        caseworker = gateway.headers(gateway.known_organization, CASEWORKER)
        admin = gateway.headers(None, NETWORK_ADMIN)
        answers = [
            await gateway.client.get("/v1/organizations", headers=caseworker)
            for _ in range(3)
        ]
        viewer = await gateway.client.get(
            "/v1/organizations", headers=gateway.headers(gateway.known_organization, VIEWER)
        )
        metrics = (await gateway.client.get("/metrics", headers=admin)).text

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"caseworker";q=2;w=60'
    assert answers[0].headers["ratelimit"].startswith('"caseworker";r=1;t=')
    assert answers[1].headers["ratelimit"].startswith('"caseworker";r=0;t=')
    refused = answers[2]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://waymark.network/problems/rate-limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert refused.headers["ratelimit"].startswith('"caseworker";r=0;')
    assert viewer.status_code == 200
    assert viewer.headers["ratelimit-policy"] == '"default";q=100;w=60'
    assert 'waymark_gateway_rate_limit_rejections_total{policy="caseworker"}' in metrics


async def test_two_gateway_processes_share_one_limit_in_redis(
    database_url: str, redis_prefix: str, standin: Standin, serve: Serve,
    process: StartProcess, tmp_path: Path, encryption_key: str,
) -> None:
    settings = Settings(signing_key_file=tmp_path / "key.pem")
    signing_key = load_or_create_signing_key(settings)  # both processes share this key
    token = signing_key.issue(
        subject="shared-client", organization_id=None, roles=[VIEWER], issuer="waymark",
        audience="waymark-api", ttl_seconds=300,
    )
    registry = standin("registry")
    async with serve(registry) as registry_url:
        env = {
            "WAYMARK_MODE": "distributed", "WAYMARK_GATEWAY_DATABASE_URL": database_url,
            "WAYMARK_ADMIN_CLIENT_SECRET": "not-used-here", "WAYMARK_ENCRYPTION_KEY": encryption_key,
            "WAYMARK_SIGNING_KEY_FILE": str(tmp_path / "key.pem"),
            "WAYMARK_REGISTRY_URL": registry_url, "WAYMARK_RATE_LIMIT": "4/minute",
            "WAYMARK_REDIS_URL": REDIS_URL, "WAYMARK_REDIS_KEY_PREFIX": redis_prefix,
        }
        first_port = free_port_block(2)
        second_port = first_port + 1
        with (
            process("waymark_gateway.main:create_app", first_port, env=env, factory=True),
            process("waymark_gateway.main:create_app", second_port, env=env, factory=True),
        ):
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
                statuses = []
                for number in range(6):
                    port = (first_port, second_port)[number % 2]
                    response = await client.get(f"http://127.0.0.1:{port}/v1/organizations")
                    statuses.append(response.status_code)

    assert statuses == [200, 200, 200, 200, 429, 429]
    assert len(registry.state.calls) == 4


async def test_the_gateway_keeps_serving_when_redis_goes_away(
    start_gateway: StartGateway, redis_prefix: str, standin: Standin, serve: Serve
) -> None:
    relay = TcpRelay(6379)
    relay_port = await relay.start()
    async with serve(standin("registry")) as registry_url, start_gateway(
        registry_url=registry_url, rate_limit="2/minute",
        redis_url=f"redis://127.0.0.1:{relay_port}/0", redis_key_prefix=redis_prefix,
    ) as gateway:
        headers, admin = gateway.headers(None, VIEWER), gateway.headers(None, NETWORK_ADMIN)
        limited = [
            (await gateway.client.get("/v1/organizations", headers=headers)).status_code
            for _ in range(3)
        ]
        counters = redis.Redis.from_url(REDIS_URL)
        stored = await counters.keys(redis_prefix + "*")
        await counters.aclose()
        failures_before = store_failures(
            await gateway.client.get("/metrics", headers=admin)
        )

        await relay.stop()
        unlimited = [
            await gateway.client.get("/v1/organizations", headers=headers) for _ in range(3)
        ]
        failures_after = store_failures(
            await gateway.client.get("/metrics", headers=admin)
        )

    assert limited == [200, 200, 429]
    assert stored  # the counters were in Redis, not in the process
    assert [answer.status_code for answer in unlimited] == [200, 200, 200]
    assert "ratelimit" not in unlimited[0].headers
    assert failures_after - failures_before == 3


def store_failures(metrics: httpx.Response) -> float:
    for line in metrics.text.splitlines():
        if line.startswith("waymark_gateway_rate_limit_store_failures_total "):
            return float(line.split()[1])
    raise AssertionError("the store failure counter is missing")


@contextlib.asynccontextmanager
async def caller_at(gateway: Gateway, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway whose requests come from `address`."""
    transport = httpx.ASGITransport(gateway.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def token_request(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
    })


async def test_failed_token_requests_are_limited_per_client_id_and_per_address(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with serve(standin("registry")) as registry_url, start_gateway(
        registry_url=registry_url, token_failure_limit_per_client="2/minute",
        token_failure_limit_per_address="4/minute",
    ) as gateway:
        guessed = [
            (await token_request(gateway.client, "network-admin", "guess")).status_code
            for _ in range(3)
        ]
        locked_out = await token_request(gateway.client, "network-admin", gateway.admin_secret)
        others = [
            (await token_request(gateway.client, f"wm_guess{n}", "guess")).status_code
            for n in range(3)
        ]

    assert guessed == [401, 401, 429]
    assert locked_out.status_code == 429  # from the guessing address the right secret waits too
    assert int(locked_out.headers["retry-after"]) >= 1
    assert locked_out.json()["type"] == "https://waymark.network/problems/rate-limited"
    # Two more failures use the address's budget of four; then every id from it waits.
    assert others == [401, 401, 429]


async def test_finding_2_wrong_secret_from_elsewhere_does_not_lock_out_the_client(
    start_gateway: StartGateway
) -> None:
    async with start_gateway(
        token_failure_limit_per_client="3/hour", token_failure_limit_per_address="100/hour",
    ) as gateway:
        async with caller_at(gateway, "198.51.100.66") as attacker:
            guesses = [
                (await token_request(attacker, "network-admin", f"guess-{n}")).status_code
                for n in range(4)
            ]
            attackers_right_secret = await token_request(
                attacker, "network-admin", gateway.admin_secret
            )
        owner = await token_request(gateway.client, "network-admin", gateway.admin_secret)
        async with caller_at(gateway, "2001:db8::7") as colleague:
            colleague_wrong_then_right = [
                (await token_request(colleague, "network-admin", secret)).status_code
                for secret in ("typo", gateway.admin_secret)
            ]

    assert guesses == [401, 401, 401, 429]
    assert attackers_right_secret.status_code == 429  # the guesser slows only himself
    assert owner.status_code == 200
    assert "access_token" in owner.json()
    assert colleague_wrong_then_right == [401, 200]


async def test_finding_2_a_guesser_going_through_the_addresses_of_his_ipv6_network_is_one_caller(
    start_gateway: StartGateway,
) -> None:
    async with start_gateway(
        token_failure_limit_per_client="3/hour", token_failure_limit_per_address="100/hour",
    ) as gateway:
        guesses: list[int] = []
        for number in range(1, 5):  # a host holds a /64: each guess from another of its addresses
            async with caller_at(gateway, f"2001:db8:66:1::{number:x}") as attacker:
                guesses.append(
                    (await token_request(attacker, "network-admin", f"guess-{number}")).status_code
                )
        async with caller_at(gateway, "2001:db8:66:2::1") as next_network:
            neighbour = await token_request(next_network, "network-admin", gateway.admin_secret)

    assert guesses == [401, 401, 401, 429]
    assert neighbour.status_code == 200


@pytest.mark.parametrize(("address", "counted"), [
    ("198.51.100.66", "198.51.100.66"),
    ("::ffff:198.51.100.66", "198.51.100.66"),
    ("2001:db8:66:1::1", "2001:db8:66:1::/64"),
    ("2001:db8:66:1:ffff:ffff:ffff:ffff", "2001:db8:66:1::/64"),
    ("2001:db8:66:2::1", "2001:db8:66:2::/64"),
    ("testclient", "testclient"),
])
def test_limits_count_an_ipv6_address_as_its_64_and_ipv4_as_itself(
    address: str, counted: str
) -> None:
    assert counted_address(address) == counted


async def test_sign_in_buckets_in_redis_never_name_the_subject_or_the_address(
    start_gateway: StartGateway, redis_prefix: str
) -> None:
    async with start_gateway(redis_url=REDIS_URL, redis_key_prefix=redis_prefix) as gateway:
        await token_request(gateway.client, "network-admin", "guess")
        await token_request(gateway.client, "network-admin", gateway.admin_secret)
    counters = redis.Redis.from_url(REDIS_URL)
    keys = [key.decode() async for key in counters.scan_iter(match=redis_prefix + "*")]
    await counters.aclose()

    assert len(keys) == 4  # failures of the client here and of the address; their successes
    assert not any("network-admin" in key or "203.0.113.7" in key for key in keys)


async def test_finding_9_successful_token_requests_are_limited_per_client_and_per_address(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with serve(standin("registry")) as registry_url, start_gateway(
        registry_url=registry_url, token_limit_per_client="2/minute",
        token_limit_per_address="3/minute",
    ) as gateway:
        admin = [
            await token_request(gateway.client, "network-admin", gateway.admin_secret)
            for _ in range(3)
        ]
        created = await gateway.client.post(
            f"/v1/organizations/{gateway.known_organization}/clients",
            json={"name": "Partner system", "roles": ["viewer"]},
            headers={"Authorization": f"Bearer {admin[0].json()['access_token']}"},
        )
        partner_id, partner_secret = created.json()["client_id"], created.json()["client_secret"]
        async with caller_at(gateway, "198.51.100.20") as elsewhere:
            admin_elsewhere = await token_request(elsewhere, "network-admin", gateway.admin_secret)
            partner_elsewhere = await token_request(elsewhere, partner_id, partner_secret)
        partner_here = [
            (await token_request(gateway.client, partner_id, partner_secret)).status_code
            for _ in range(2)
        ]
        partner_failure_here = await token_request(gateway.client, partner_id, "wrong")

    assert [answer.status_code for answer in admin] == [200, 200, 429]
    refused = admin[2]
    assert refused.json()["type"] == "https://waymark.network/problems/rate-limited"
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert "access_token" not in refused.json()
    assert admin_elsewhere.status_code == 429  # the client's own limit holds everywhere
    assert partner_elsewhere.status_code == 200
    assert partner_here == [200, 429]  # the address's third token, then its limit
    assert partner_failure_here.status_code == 429  # no secret is checked from there until then


async def failed_token_statuses(gateway: Gateway, forwarded_for: list[str]) -> list[int]:
    """One failed token request (each with an id of its own) per X-Forwarded-For value."""
    statuses = []
    for value in forwarded_for:
        response = await gateway.client.post(
            "/v1/auth/token", headers={"X-Forwarded-For": value},
            data={"grant_type": "client_credentials", "client_id": f"wm_{uuid.uuid4().hex}",
                  "client_secret": "guess"},
        )
        statuses.append(response.status_code)
    return statuses


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_token_budget(
    start_gateway: StartGateway,
) -> None:
    # The test client's peer address is 203.0.113.7: here it is the load balancer.
    async with start_gateway(
        trusted_proxies="203.0.113.0/28,2001:db8::/32", token_failure_limit_per_client="off",
        token_failure_limit_per_address="2/hour",
    ) as gateway:
        first_caller = await failed_token_statuses(gateway, [
            "198.51.100.1", "198.51.100.1",
            "192.0.2.66, 198.51.100.1",  # a caller-written address left of the proxy's is ignored
            "198.51.100.1, 203.0.113.9",  # behind two trusted proxies: still the same caller
        ])
        second_caller = await failed_token_statuses(gateway, ["198.51.100.2"])

    assert first_caller == [401, 401, 429, 429]
    assert second_caller == [401]


async def test_without_trusted_proxies_a_forwarded_address_is_ignored(
    start_gateway: StartGateway
) -> None:
    async with start_gateway(
        token_failure_limit_per_client="off", token_failure_limit_per_address="2/hour",
    ) as gateway:
        statuses = await failed_token_statuses(
            gateway, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        )

    assert statuses == [401, 401, 429]  # every guess counted against the peer's address


async def test_the_in_process_store_forgets_only_buckets_that_are_full_again() -> None:
    store = MemoryBuckets()
    brief = Policy("brief", 1, 0.001)  # full again a millisecond after a request
    lasting = Policy("lasting", 1, 3600)
    await store.take("guessed-an-hour-ago", lasting, 1)
    for number in range(MEMORY_BUCKETS_PRUNED_FROM - 2):
        await store.take(f"invented-subject-{number}", brief, 1)
    await asyncio.sleep(0.01)

    await store.take("one-more", brief, 1)  # reaches the size at which full buckets go

    assert len(store._buckets) == 2  # the lasting bucket and the one just used
    assert not (await store.take("guessed-an-hour-ago", lasting, 0)).allowed
