"""`make drill`: the fault drill. Two replicas of every part (`waymark up --replicas 2`) on a
PostgreSQL, a RabbitMQ node and a Redis of the drill's own, a steady load through the gateway,
and faults in turn: a random replica killed every few seconds, PostgreSQL restarted, RabbitMQ
restarted, Redis stopped and started, a webhook receiver down for a while. Then it checks that
nothing committed was lost and writes docs/reliability.md. The drill ends within DEADLINE_SECONDS
of its process's start, whatever the machine's load: every wait is bounded by that deadline,
and the load lasts DRILL_SECONDS (default 300, at most 600) or what the start-up left of it.
DRILL_KEEP=1 keeps its folder, with every server's and replica's log."""

import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.run import machine
from drill.load import Load, Organisation, organisations_for_the_drill
from drill.servers import PostgreSQL, RabbitMQ, Redis, free_ports
from tests.e2e.flow import token
from tests.e2e.support import ADMIN_SECRET, PARTS, Network, stop
from waymark_kernel.testing import free_port_block

REPORT = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
ORGANISATIONS = 4
KILL_EVERY_SECONDS = 5.0
SETTLE_SECONDS = 180.0  # after the load, at most: time for the last retries of webhooks to land
RETRY_SCHEDULE = "1,2,4,8,15,30,30,30,60"
# `make drill` runs within 15 minutes: the drill's own deadline leaves one for `make` and stopping.
DEADLINE_SECONDS = 14 * 60.0
CHECKS_SECONDS = 150.0  # kept after the settling for the checks and for stopping every server
STOPPING_SECONDS = 60.0  # of which this for stopping the network and the servers
LEAST_SETTLE_SECONDS = 60.0  # kept after the load for the webhooks still being retried
LEAST_LOAD_SECONDS = 150.0  # less load than this would not give every fault its turn
# Each fault's turn, in tenths of the load's length: it starts at the first number and the
# drill waits for its recovery until the next one (a turn that runs long delays the rest).
# RabbitMQ's turn is the longest: on a busy machine its node took a minute to stop and start,
# and the relays' back-off up to 10 s delays the events committed meanwhile.
TURNS = (("kills", 1.0), ("postgresql", 4.0), ("rabbitmq", 5.0), ("redis", 7.5), ("receiver", 8.5))


@dataclass
class Fault:
    name: str
    started: float
    restored: float = 0.0  # the broken thing is back (or the last kill was made)
    recovered: float | None = None  # everything committed before `restored` has reached its webhooks
    until: float = 0.0  # recovered, or the drill stopped waiting for it
    notes: list[str] = field(default_factory=list)

    def covers(self, at: float) -> bool:
        return self.started <= at <= self.until + 2


@dataclass(frozen=True)
class Budget:
    """The drill's bound in time, from its process's start (interpreter and imports included)."""

    deadline: float  # monotonic

    @classmethod
    def from_process_start(cls, seconds: float) -> "Budget":
        after_start = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(after_start[19]) / os.sysconf("SC_CLK_TCK")  # field 22: since boot
        age = float(Path("/proc/uptime").read_text().split()[0]) - started
        return cls(time.monotonic() - age + seconds)

    @property
    def began(self) -> float:
        return self.deadline - DEADLINE_SECONDS

    def left(self) -> float:
        return self.deadline - time.monotonic()


class LoadAverage:
    """The machine's one-minute load average, sampled every few seconds while the drill runs
    (other work shares the machine: the figures depend on it)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.task = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            await asyncio.sleep(5)

    def summary(self) -> str:
        ordered = sorted(self.samples)
        return (f"{ordered[0]:.1f} to {ordered[-1]:.1f}, median {ordered[len(ordered) // 2]:.1f}"
                f" ({len(ordered)} samples)")


@dataclass
class Drill:
    network: Network
    postgres: PostgreSQL
    rabbitmq: RabbitMQ
    redis: Redis
    load: Load
    organisations: list[Organisation]
    seconds: float  # the load's planned length
    faults: list[Fault] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.load.began

    def turn_starts(self, name: str) -> float:
        return dict(TURNS)[name] * self.seconds / 10

    def turn_ends(self, name: str) -> float:
        """When the next turn starts (the last one ends with the load)."""
        names = [turn for turn, _ in TURNS]
        index = names.index(name)
        return self.turn_starts(names[index + 1]) if index + 1 < len(names) else self.seconds

    async def turn(self, name: str) -> None:
        """Waits for the turn of `name` (at once when the turn before it ran long)."""
        await asyncio.sleep(max(0.0, self.turn_starts(name) - self.now()))

    def replicas(self) -> dict[int, tuple[str, bool]]:
        """The running replicas of `waymark up`: pid -> (part, accepting connections yet)."""
        up = self.network.process.pid
        children = Path(f"/proc/{up}/task/{up}/children").read_text().split()
        found = {}
        for pid in map(int, children):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"serve" in command:
                    listener = int(command[command.index(b"--fd") + 1])
                    found[pid] = (command[command.index(b"serve") + 1].decode(), accepting(pid, listener))
            except (FileNotFoundError, ProcessLookupError):
                continue
        return found

    async def kill_replicas(self, seconds: float) -> None:
        """Every 5 s a random replica of a part whose two replicas both accept connections (as a
        disruption budget keeping one available would allow): on a busy machine a replica can
        take minutes to start again, and killing it meanwhile proves nothing more. Until the
        turn ends, the drill then waits for the killed ones to accept again."""
        await self.turn("kills")
        fault = Fault("SIGKILL of a random replica every 5 s", self.now())
        self.faults.append(fault)
        kills: Counter[str] = Counter()
        waiting: list[tuple[str, float]] = []  # (part, killed at): until it accepts again
        back: list[float] = []
        skipped = 0
        deadline = self.now() + seconds
        next_kill = self.now()
        while self.now() < self.turn_ends("kills") and (self.now() < deadline or waiting):
            running = self.replicas()
            for part, killed_at in list(waiting):
                if sum(1 for other, ready in running.values() if other == part and ready) == 2:
                    back.append(self.now() - killed_at)
                    waiting.remove((part, killed_at))
            if self.now() >= next_kill and self.now() < deadline:
                next_kill += KILL_EVERY_SECONDS
                eligible = [
                    (pid, part) for pid, (part, _) in running.items()
                    if [ready for other, ready in running.values() if other == part] == [True, True]
                ]
                if eligible:
                    pid, part = random.choice(sorted(eligible))
                    os.kill(pid, signal.SIGKILL)
                    kills[part] += 1
                    waiting.append((part, self.now()))
                else:
                    skipped += 1
            await asyncio.sleep(0.2)
        fault.restored = min(deadline, self.now())  # no kill after this
        fault.notes.append("killed: " + ", ".join(f"{part} {count}" for part, count in sorted(kills.items())))
        if skipped:
            fault.notes.append(f"{skipped} turns without a kill (no part had both replicas accepting)")
        if back:
            fault.notes.append(
                f"a killed replica accepted connections again after {sorted(back)[len(back) // 2]:.1f} s"
                f" (median), {max(back):.1f} s at most"
            )
        if waiting:
            fault.notes.append(
                f"{len(waiting)} killed replicas not yet accepting {self.now() - fault.restored:.0f} s after the last turn"
            )
        await self.recover(fault, "kills")

    async def break_and_restore(
        self, turn: str, name: str, breaking: Callable[[], object],
        restoring: Callable[[], object], down_seconds: float = 0,
    ) -> None:
        await self.turn(turn)
        fault = Fault(name, self.now())
        self.faults.append(fault)
        await asyncio.to_thread(breaking)
        await asyncio.sleep(down_seconds)
        await asyncio.to_thread(restoring)
        fault.restored = self.now()
        await self.recover(fault, turn)

    async def receiver_down(self, organisation: Organisation) -> None:
        await self.turn("receiver")
        seconds = self.seconds / 10
        fault = Fault(f"one webhook receiver down for {seconds:.0f} s", self.now())
        self.faults.append(fault)
        await organisation.receiver.stop()
        await asyncio.sleep(seconds)
        await organisation.receiver.start()
        fault.restored = self.now()
        await self.recover(fault, "receiver")

    async def recover(self, fault: Fault, turn: str) -> None:
        """Until the turn ends, waits for everything committed by the time the fault ended to
        reach every webhook it should (the load keeps running meanwhile); the report dates the
        recovery from the webhooks' arrivals, when it came later too."""
        expected = dict(self.load.committed)
        while self.now() < self.turn_ends(turn) and missing_webhooks(expected, self.organisations):
            await asyncio.sleep(0.25)
        fault.until = self.now()


def accepting(pid: int, listener: int) -> bool:
    """Whether the replica's event loop watches the listening socket it inherited (its epoll
    set names the descriptor), i.e. it has started and accepts connections."""
    pattern = re.compile(rf"^tfd:\s+{listener}\s", re.MULTILINE)
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            if pattern.search(info.read_text()):
                return True
        except OSError:
            continue
    return False


def missing_webhooks(
    expected: dict[tuple[str, str], tuple[str, str]], organisations: list[Organisation]
) -> list[tuple[str, str, str]]:
    """(referral, event type, organisation) of each committed event some receiver still lacks."""
    received = {
        organisation.id: {(body["data"]["referral_id"], body["type"]) for _, body in organisation.receiver.received}
        for organisation in organisations
    }
    return [
        (referral_id, event_type, organization_id)
        for (referral_id, event_type), pair in expected.items()
        for organization_id in pair
        if (referral_id, event_type) not in received[organization_id]
    ]


async def feed_of(load: Load, organisation: Organisation) -> list[dict[str, Any]]:
    items, after = [], None
    while True:
        params = {"limit": 100, **({"after": after} if after else {})}
        page = await load.client.get("/v1/events", headers=organisation.headers, params=params)
        page.raise_for_status()
        body = page.json()
        items += body["items"]
        if not body["items"]:
            return items
        after = body["next_cursor"]


async def unpublished_outbox(postgres: PostgreSQL, prefix: str) -> dict[str, int]:
    counts = {}
    for part in PARTS:
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{postgres.port}/{prefix}_{part}")
        try:
            if await connection.fetchval("SELECT to_regclass('outbox') IS NOT NULL"):
                counts[part] = await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await connection.close()
    return counts


NOTES = "<!-- notes: kept by the next run -->"


def kept_notes() -> str:
    """What people wrote below the figures of the last run."""
    previous = REPORT.read_text() if REPORT.exists() else ""
    return previous[previous.index(NOTES):] if NOTES in previous else f"{NOTES}\n"


def launch(folder: Path, environment: dict[str, str], timeout: float) -> Network:
    """`waymark up` on ports of its own, ready: eight processes take a while on a busy machine."""
    folder.mkdir()
    port = free_port_block(len(PARTS))
    log = folder / "waymark-up.log"
    env = {
        **os.environ, "WAYMARK_HOST": "127.0.0.1", "WAYMARK_PORT": str(port),
        "WAYMARK_DATA_DIR": str(folder / "var"), "WAYMARK_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        "WAYMARK_WEBHOOK_ALLOW_INSECURE": "true", **environment,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "waymark_cli", "up"], stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True, env=env,
    )
    network = Network(f"http://127.0.0.1:{port}", process, log, folder / "var", "up", env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{network.base_url}/readyz", timeout=5).status_code == 200:
                return network
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(network)
    raise RuntimeError(f"`waymark up` not ready in {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def verify_ledger(environment: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "waymark_cli", "referrals", "verify-ledger"], check=False, env=environment,
        capture_output=True, text=True, timeout=120,
    )
    return done.returncode, (done.stdout + done.stderr).strip().splitlines()[-1]


async def main() -> None:
    budget = Budget.from_process_start(DEADLINE_SECONDS)
    load_average = LoadAverage()
    requested = min(600.0, float(os.environ.get("DRILL_SECONDS", "300")))
    folder = Path(tempfile.mkdtemp(prefix="waymark-drill-"))
    folder.chmod(0o711)  # PostgreSQL's own account reaches its folder inside
    pg_port, amqp_port, dist_port, redis_port = free_ports(4)
    postgres = PostgreSQL(folder / "postgresql", pg_port)
    rabbitmq = RabbitMQ(folder / "rabbitmq", amqp_port, dist_port)
    redis = Redis(folder / "redis", redis_port)
    servers = (postgres, rabbitmq, redis)
    prefix = "drill"
    environment = {
        "WAYMARK_REPLICAS": "2", "WAYMARK_POSTGRES_URL": postgres.url, "WAYMARK_DATABASE_PREFIX": prefix,
        "WAYMARK_BROKER_URL": rabbitmq.url, "WAYMARK_REDIS_URL": redis.url,
        "WAYMARK_SEED_DEMO": "false", "WAYMARK_RATE_LIMIT": "100000/minute",
        "WAYMARK_WEBHOOK_RETRY_SCHEDULE": RETRY_SCHEDULE, "WAYMARK_TOKEN_TTL_SECONDS": "3600",
        "WAYMARK_LOG_LEVEL": "WARNING",
    }
    network = None
    timeline: dict[str, float] = {}  # seconds since the drill's start, when each phase ended
    try:
        await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))
        timeline["servers"] = time.monotonic() - budget.began
        print(f"drill: own servers up in {folder} after {timeline['servers']:.0f} s", flush=True)
        network = await asyncio.to_thread(
            launch, folder / "network", environment,
            budget.left() - CHECKS_SECONDS - LEAST_SETTLE_SECONDS - LEAST_LOAD_SECONDS,
        )
        timeline["network"] = time.monotonic() - budget.began
        print(f"drill: two replicas of every part ready after {timeline['network']:.0f} s", flush=True)
        async with httpx.AsyncClient(base_url=network.base_url, timeout=20) as client:
            admin = await token(client, "network-admin", ADMIN_SECRET)
            organisations = await organisations_for_the_drill(client, admin, ORGANISATIONS)
            seconds = min(requested, budget.left() - CHECKS_SECONDS - LEAST_SETTLE_SECONDS)
            if seconds < LEAST_LOAD_SECONDS:
                raise SystemExit(f"drill: the start-up left {seconds:.0f} s of load, less than {LEAST_LOAD_SECONDS:.0f}")
            load = Load(client, time.monotonic())
            drill = Drill(network, postgres, rabbitmq, redis, load, organisations, seconds)
            try:
                report = await asyncio.wait_for(
                    run_drill(drill, budget, timeline, environment, folder, prefix, load_average),
                    timeout=budget.left() - STOPPING_SECONDS,
                )
            except TimeoutError:
                raise SystemExit("drill: its deadline came before its checks were done") from None
            for organisation in organisations:
                await organisation.receiver.close()
        REPORT.write_text(report + kept_notes())
        print(report, flush=True)
    finally:
        if network is not None:
            stop(network)
        for server in reversed(servers):
            server.stop()
        took = time.monotonic() - budget.began
        print(f"drill: {took:.0f} s from its start to its servers stopped (its bound: {DEADLINE_SECONDS:.0f} s);"
              f" load average {load_average.summary()}", flush=True)
    if os.environ.get("DRILL_KEEP"):
        print(f"drill: the servers' and the network's logs are in {folder}", flush=True)
    else:
        shutil.rmtree(folder)  # kept, with every log, when the drill itself failed


async def run_drill(
    drill: Drill, budget: Budget, timeline: dict[str, float], environment: dict[str, str],
    folder: Path, prefix: str, load_average: LoadAverage,
) -> str:
    load, organisations = drill.load, drill.organisations
    stopping = asyncio.Event()
    workers = [
        asyncio.ensure_future(load.referrals(organisations, index, stopping))
        for index in range(len(organisations))
    ] + [asyncio.ensure_future(load.directory(organisations, stopping))]
    await drill.kill_replicas(2.5 * drill.seconds / 10)
    await drill.break_and_restore("postgresql", "PostgreSQL restarted", drill.postgres.restart, lambda: None)
    await drill.break_and_restore("rabbitmq", "RabbitMQ restarted", drill.rabbitmq.stop, drill.rabbitmq.start)
    await drill.break_and_restore("redis", "Redis stopped for 10 s", drill.redis.stop, drill.redis.start, 10)
    await drill.receiver_down(organisations[0])
    await asyncio.sleep(max(0.0, drill.seconds - drill.now()))
    stopping.set()
    # a write still being tried through a fault is given up when its time runs out
    _, unfinished = await asyncio.wait(
        workers, timeout=max(10.0, budget.left() - CHECKS_SECONDS - LEAST_SETTLE_SECONDS)
    )
    for worker in unfinished:
        worker.cancel()
    load_ended = drill.now()
    timeline["load"] = time.monotonic() - budget.began

    settle_until = time.monotonic() + min(SETTLE_SECONDS, budget.left() - CHECKS_SECONDS)
    while missing_webhooks(load.committed, organisations) and time.monotonic() < settle_until:
        await asyncio.sleep(0.5)
    settled = drill.now()
    await asyncio.sleep(3)  # a repeat of a delivery still in flight shows up
    timeline["settled"] = time.monotonic() - budget.began
    return await findings(
        drill, load_ended, settled, environment, folder, prefix,
        Timing(timeline, len(unfinished), load_average), budget,
    )


@dataclass
class Timing:
    """How long the drill's phases took, and on how busy a machine."""

    timeline: dict[str, float]
    cut_short: int  # load workers still trying a write when the load's time ran out
    load_average: LoadAverage


def recovered_at(fault: Fault, load: Load, organisations: list[Organisation]) -> float | None:
    """When every event committed by the time the fault ended had reached the webhooks of both
    organisations it is about (seconds into the load); None when one never did."""
    latest = fault.restored
    for key, pair in load.committed.items():
        if load.committed_at[key] - load.began > fault.restored:
            continue
        for organisation in organisations:
            if organisation.id in pair:
                arrived = organisation.receiver.arrived.get(key)
                if arrived is None:
                    return None
                latest = max(latest, arrived - load.began)
    return latest


async def findings(
    drill: Drill, load_ended: float, settled: float, environment: dict[str, str], folder: Path,
    prefix: str, timing: Timing, budget: Budget,
) -> str:
    load, organisations, timeline = drill.load, drill.organisations, timing.timeline
    by_id = {organisation.id: organisation for organisation in organisations}
    for fault in drill.faults:
        fault.recovered = recovered_at(fault, load, organisations)
        if fault.recovered is not None:
            fault.until = fault.recovered
    lost = missing_webhooks(load.committed, organisations)
    repeats = wrong = duplicated = 0
    for organisation in organisations:
        ids_of: dict[tuple[str, str], set[str]] = defaultdict(set)
        seen: Counter[str] = Counter()
        for webhook_id, body in organisation.receiver.received:
            seen[webhook_id] += 1
            ids_of[(body["data"]["referral_id"], body["type"])].add(webhook_id)
            if organisation.id not in (body["data"]["sender_org_id"], body["data"]["receiver_org_id"]):
                wrong += 1
        repeats += sum(count - 1 for count in seen.values())
        duplicated += sum(len(ids) - 1 for ids in ids_of.values())
    delivered = sum(len(organisation.receiver.received) for organisation in organisations)
    latencies = sorted(
        (organisation.receiver.arrived[key] - load.committed_at[key], key, load.committed_at[key] - load.began)
        for organisation in organisations for key, pair in load.committed.items()
        if organisation.id in pair and key in organisation.receiver.arrived
    )

    missing_in_feeds, wrong_in_feeds = [], 0
    for organisation in organisations:
        feed = await feed_of(load, organisation)
        keys = {(item["data"].get("referral_id"), item["type"]) for item in feed}
        for item in feed:
            data = item["data"]
            if "referral_id" in data and organisation.id not in (data["sender_org_id"], data["receiver_org_id"]):
                wrong_in_feeds += 1
        missing_in_feeds += [
            key for key, pair in load.committed.items() if organisation.id in pair and key not in keys
        ]
    outbox = await unpublished_outbox(drill.postgres, prefix)
    queues = await asyncio.to_thread(drill.rabbitmq.queues)
    ledger_status, ledger_line = await asyncio.to_thread(verify_ledger, {
        **os.environ, **environment, "WAYMARK_MODE": "distributed",
        "WAYMARK_DATA_DIR": str(folder / "network" / "var"),
    })

    answers = load.answers
    statuses = Counter(answer.status for answer in answers)
    bad = [
        answer for answer in answers
        if answer.status is not None and answer.status >= 500 and not (
            answer.status in (502, 503) and answer.retry_after
            and any(fault.covers(answer.at) for fault in drill.faults)
        )
    ]
    broken = [answer for answer in answers if answer.status is None]
    broken_outside = [a for a in broken if not any(fault.covers(a.at) for fault in drill.faults)]
    refused = [answer for answer in answers if answer.status in (502, 503)]
    committed = Counter(event_type for _, event_type in load.committed)
    expected_deliveries = 2 * len(load.committed)
    lines = [
        "# Reliability",
        "",
        "Every figure here comes from `make drill` (`drill/run.py`), the fault drill: two replicas of",
        "every part (`waymark up --replicas 2`) on a PostgreSQL, a RabbitMQ node and a Redis that the",
        "drill starts for itself on loopback ports (and restarts: never the machine's own), a steady",
        f"load through the gateway from {len(organisations)} organisations, each with a webhook receiver of",
        "its own, and faults in turn. Webhooks are retried after "
        f"{RETRY_SCHEDULE.replace(',', ', ')} s (`WAYMARK_WEBHOOK_RETRY_SCHEDULE`).",
        "",
        f"_Run on {datetime.now(UTC):%Y-%m-%d} on {machine()}; the machine's load average (1 min)"
        f" during the drill {timing.load_average.summary()}._",
        "",
        f"_Timing: the drill's own servers up {timeline['servers']:.0f} s after its start, two replicas"
        f" of every part ready at {timeline['network']:.0f} s; load for {load_ended:.0f} s"
        f" (DRILL_SECONDS={os.environ.get('DRILL_SECONDS', '300')}, {drill.seconds:.0f} s planned),"
        f" then {settled - load_ended:.0f} s until every webhook had landed; checks done at"
        f" {time.monotonic() - budget.began:.0f} s, within the drill's bound of {DEADLINE_SECONDS:.0f} s"
        " (every wait ends by it)"
        + (f"; {timing.cut_short} writes still being tried when the load's time ran out were left" if timing.cut_short else "")
        + "._",
        "",
        "## Faults",
        "",
        "| fault | at (s) | restored (s) | recovered after (s) | 502/503 with Retry-After | notes |",
        "|---|---|---|---|---|---|",
    ]
    for fault in drill.faults:
        recovered = "never" if fault.recovered is None else f"{fault.recovered - fault.restored:.1f}"
        inside = [a for a in refused if a.retry_after and fault.covers(a.at)]
        when = f" ({inside[0].at:.1f}-{inside[-1].at:.1f} s)" if inside else ""
        lines.append(
            f"| {fault.name} | {fault.started:.1f} | {fault.restored:.1f} | {recovered} | {len(inside)}{when} | {'; '.join(fault.notes)} |"
        )
    lines += [
        "",
        "_Recovered_: from the moment the broken thing was back until every referral event committed",
        "before it had reached the webhooks of both organisations it is about.",
        "",
        "## Requests",
        "",
        f"- made: {len(answers)}; answered below 500: {sum(n for s, n in statuses.items() if s is not None and s < 500)}"
        f" ({', '.join(f'{s}: {n}' for s, n in sorted((s, n) for s, n in statuses.items() if s is not None))})",
        f"- 502/503 with Retry-After, inside a fault's window: {len(refused) - len([a for a in bad if a.status in (502, 503)])}"
        " (by fault in the table above; a fault's window runs from its start to its recovery, + 2 s)",
        f"- other 5xx (a 5xx outside a fault's window, or without Retry-After): {len(bad)}"
        + (" — " + ", ".join(
            f"{a.status} {a.error}{'' if a.retry_after else ' (no Retry-After)'} on {a.kind} at {a.at:.1f} s"
            for a in bad[:20]
        ) if bad else ""),
        f"- no HTTP answer (the connection to the gateway broke, e.g. its replica was killed): {len(broken)},"
        f" {len(broken_outside)} of them outside a fault's window",
        f"- writes given up after {60} tries: {sum(load.given_up.values())}",
        "",
        "## Events",
        "",
        f"- committed: {len(load.committed)} ("
        + ", ".join(f"{event_type} {count}" for event_type, count in sorted(committed.items())) + ")",
        f"- webhooks expected (sender and receiver of each): {expected_deliveries}; received: {delivered}",
        f"- repeated with the same `webhook-id`: {repeats}; the same event under a second `webhook-id`: {duplicated}",
        f"- lost (committed, never at one of its organisations' receivers): {len(lost)}",
        f"- from the commit to the webhook: median {latencies[len(latencies) // 2][0]:.2f} s, 99th percentile {latencies[int(len(latencies) * 0.99)][0]:.1f} s, slowest {latencies[-1][0]:.1f} s"
        f" ({latencies[-1][1][1]} committed at {latencies[-1][2]:.0f} s)" if latencies else "- no webhook arrived",
        f"- delivered to an organisation it is not about: {wrong}",
        f"- missing from an organisation's feed (`GET /v1/events`): {len(missing_in_feeds)};"
        f" in a feed of an organisation it is not about: {wrong_in_feeds}",
        "",
        "## Afterwards",
        "",
        "- outbox rows not yet published: " + ", ".join(f"{part} {count}" for part, count in outbox.items()),
        "- messages left in queues: " + ", ".join(
            f"{name} {count}" for name, count in sorted(queues.items())
        ),
        f"- disclosure ledger (`waymark referrals verify-ledger`, exit {ledger_status}): {ledger_line}",
        "",
    ]
    if lost:
        lines += ["Lost: " + ", ".join(f"{event_type} of {referral_id} for {by_id[org].country}" for referral_id, event_type, org in lost[:20]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
