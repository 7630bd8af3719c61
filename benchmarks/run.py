"""`make bench`: every benchmark section against the distributed network of this machine.

Starts `waymark up` with throw-away databases and RabbitMQ names, runs each section in
SECTIONS, and writes the figures to docs/benchmarks.md. A section is a module with
`async def measure(bench: Bench) -> str` returning its Markdown.
"""

import asyncio
import os
import platform
import re
import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks import (
    event_latency,
    fanout,
    gateway_overhead,
    referrals_throughput,
    registry_search,
    web_pages,
)
from benchmarks.support import Bench, found
from tests.e2e.flow import token
from tests.e2e.support import ADMIN_SECRET, Network, clean_up, start, stop

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SECTIONS = {"gateway": gateway_overhead, "events": event_latency, "referrals": referrals_throughput, "fanout": fanout, "registry_search": registry_search, "web": web_pages}
MARK = "<!-- section: {} -->"
# Longer than the tests allow: on a machine busy with other work the four processes and their
# migrations have taken more than 90 s to become ready.
READY_WITHIN_SECONDS = 300.0


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = int(found(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return (f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024 / 1024:.0f} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
            "PostgreSQL, RabbitMQ and the load generator on the same machine")


async def main(selected: list[str]) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("make bench needs wrk: apt-get install wrk")
    unique = uuid.uuid4().hex[:10]
    prefix, exchange, queues = f"bench_{unique}", f"bench.{unique}.events", f"bench.{unique}"
    sections = previous_sections()
    # The databases, exchange and queues go even when the network never became ready.
    try:
        with tempfile.TemporaryDirectory() as folder:
            network = start("up", Path(folder), {
                "WAYMARK_DATABASE_PREFIX": prefix, "WAYMARK_EVENT_EXCHANGE": exchange,
                "WAYMARK_QUEUE_PREFIX": queues, "WAYMARK_SEED_DEMO": "false",
                "WAYMARK_LOG_LEVEL": "WARNING", "WAYMARK_RATE_LIMIT": "1000000/minute",
            }, READY_WITHIN_SECONDS)
            try:
                await measure(network, queues, selected, sections)
            finally:
                stop(network)
    finally:
        await clean_up(prefix, exchange, queues)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(f"""# Benchmarks

Every figure here comes from `make bench` (`benchmarks/run.py`; one section:
`make bench SECTIONS=gateway`); the last run was on {datetime.now(UTC):%Y-%m-%d} on {machine()}.
The network runs in distributed mode (`waymark up`: the gateway and each service a process of
its own, PostgreSQL, RabbitMQ), with rate limiting on (in the gateway's process) but its limit
raised to 1000000/minute so that the load is not refused.
Each section ends with the date and the machine of the run that measured it: sections
measured on different machines are not comparable with each other.

""" + "\n".join(f"{MARK.format(name)}\n{text}" for name, text in sections.items()))


async def measure(
    network: Network, queues: str, selected: list[str], sections: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=network.base_url, timeout=60) as client:
        bench = Bench(
            network.base_url, int(network.base_url.rsplit(":", 1)[1]), client,
            await token(client, "network-admin", ADMIN_SECRET), queues,
        )
        for name in selected:
            measured = await SECTIONS[name].measure(bench)
            sections[name] = (
                f"{measured}\n_Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}._\n"
            )
            print(sections[name], flush=True)


def previous_sections() -> dict[str, str]:
    """Sections measured by earlier runs, kept when a run measures only some; so are those
    recorded by hand (an A/B of two checkouts), which no section module writes."""
    if not RESULTS.exists():
        return {}
    parts = re.split(r"<!-- section: (\w+) -->\n", RESULTS.read_text())
    return {name: text.strip() + "\n" for name, text in zip(parts[1::2], parts[2::2], strict=True)}


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or list(SECTIONS)))
