"""Registry search on a generated directory of 100,000 services in 5,000 organisations.

The directory is generated here (never committed), imported as an HSDS JSON dataset direct to
the registry (`POST /v1/hsds/dataset`, timed), then searched by wrk with 20 connections direct
to the registry, each request a different query from a list (a Lua script)."""

import asyncio
import json
import os
import random
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.support import Bench
from tests.e2e.flow import token as admin_token
from tests.e2e.support import ADMIN_SECRET
from waymark_kernel.testing import POSTGRES_ADMIN_DSN
from waymark_registry.taxonomy.service import CODES

ORGANIZATIONS, SERVICES_EACH = 5_000, 20
# Country: (language of the texts, a city's coordinates).
COUNTRIES = {
    "BJ": ("fr", 6.37, 2.39), "EC": ("es", -0.18, -78.47), "ET": ("am", 9.03, 38.74),
    "GT": ("es", 14.63, -90.51), "HN": ("es", 14.07, -87.19), "ID": ("id", -6.2, 106.85),
    "JO": ("ar", 31.95, 35.93), "KZ": ("ru", 43.24, 76.95), "LB": ("ar", 33.89, 35.5),
    "MA": ("fr", 33.57, -7.59), "NP": ("ne", 27.72, 85.32), "RU": ("ru", 55.75, 37.62),
    "TJ": ("ru", 38.56, 68.79), "TH": ("th", 13.76, 100.5), "ZW": ("en", -17.83, 31.05),
}
WORDS = {
    "en": "legal clinic shelter counselling support migrant workers family health women",
    "fr": "juridique clinique hébergement accompagnement migrants travailleurs famille santé "
          "femmes soutien",
    "es": "jurídica clínica albergue orientación migrantes trabajadoras familia salud mujeres "
          "apoyo",
    "ru": "юридическая клиника приют консультации мигранты работники семья здоровье женщины "
          "поддержка",
    "ar": "قانونية عيادة مأوى استشارات المهاجرين العمال الأسرة الصحة النساء دعم",
    "id": "hukum klinik penampungan konseling migran pekerja keluarga kesehatan perempuan "
          "dukungan",
    "ne": "कानूनी क्लिनिक आश्रय परामर्श आप्रवासी कामदार परिवार स्वास्थ्य महिला सहयोग",
    "th": "กฎหมาย คลินิก ที่พัก คำปรึกษา แรงงาน ข้ามชาติ ครอบครัว สุขภาพ ผู้หญิง ช่วยเหลือ",
    "am": "ህጋዊ ክሊኒክ መጠለያ ምክር ስደተኞች ሰራተኞች ቤተሰብ ጤና ሴቶች ድጋፍ",
}
TOP_CATEGORIES = sorted(code for code in CODES if "." not in code)
POPULATIONS = ["migrant_domestic_workers", "victims_of_trafficking", "unaccompanied_children",
               "women_at_risk", "returnees", "all_migrants"]
STAGES = ["origin", "transit", "destination", "return"]
LUA = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["Authorization"] = "%s"})
end
done = function(summary, latency, requests)
  io.write(string.format("p50_us %%d\\np95_us %%d\\nrequests %%d\\nnon2xx %%d\\n",
    latency:percentile(50), latency:percentile(95), summary.requests, summary.errors.status))
end
"""


def _place(rng: random.Random, country: str, confidential: bool) -> dict[str, Any]:
    _language, lat, lon = COUNTRIES[country]
    return {"id": str(uuid.uuid4()), "location_type": "physical",
            "latitude": round(lat + rng.uniform(-2, 2), 5),
            "longitude": round(lon + rng.uniform(-2, 2), 5), "confidential": confidential,
            "addresses": [{"id": str(uuid.uuid4()), "address_1": "", "city": "City",
                           "state_province": "", "postal_code": "", "country": country,
                           "address_type": "physical"}]}


def generated_directory(rng: random.Random) -> list[dict[str, Any]]:
    countries = list(COUNTRIES)
    dataset = []
    for number in range(ORGANIZATIONS):
        country = countries[number % len(countries)]
        language = COUNTRIES[country][0]
        words = WORDS[language].split()
        services = []
        for _ in range(SERVICES_EACH):
            services.append({
                "id": str(uuid.uuid4()), "status": "active",
                "name": " ".join(rng.sample(words, 3)),
                "description": " ".join(rng.sample(words, 6)),
                "original_language": language,
                "categories": rng.sample(sorted(CODES), rng.randint(1, 3)),
                "languages": [{"code": language}, {"code": "en"}] if language != "en"
                else [{"code": "en"}],
                "populations": rng.sample(POPULATIONS, rng.randint(1, 2)),
                "migration_stages": rng.sample(STAGES, rng.randint(1, 2)),
                "accepts_referrals": rng.random() < 0.8,
                "service_at_locations": [
                    {"id": str(uuid.uuid4()),
                     "location": _place(rng, country, rng.random() < 0.1)}
                    for _ in range(1 if rng.random() < 0.9 else 2)
                ],
            })
        dataset.append({"id": str(uuid.uuid4()), "name": f"Provider {number:05d}",
                        "description": "Generated for the benchmark", "country": country,
                        "type": "cso", "services": services})
    return dataset


def text_queries(rng: random.Random, count: int) -> list[str]:
    paths = []
    for _ in range(count):
        country = rng.choice(list(COUNTRIES))
        word = rng.choice(WORDS[COUNTRIES[country][0]].split())
        paths.append(httpx.URL("/v1/services", params={
            "q": word, "category": rng.choice(TOP_CATEGORIES), "country": country,
        }).raw_path.decode())
    return paths


def radius_queries(rng: random.Random, count: int) -> list[str]:
    paths = []
    for _ in range(count):
        _, lat, lon = COUNTRIES[rng.choice(list(COUNTRIES))]
        paths.append(httpx.URL("/v1/services", params={
            "lat": round(lat + rng.uniform(-1.5, 1.5), 4),
            "lon": round(lon + rng.uniform(-1.5, 1.5), 4),
            "radius_km": 50, "category": rng.choice(TOP_CATEGORIES),
        }).raw_path.decode())
    return paths


def wrk_paths(base_url: str, token: str, paths: list[str], seconds: int) -> dict[str, float]:
    """wrk, 20 connections, cycling through `paths`; p50 and p95 in ms."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % (", ".join(json.dumps(p) for p in paths), token))
    try:
        output = subprocess.run(
            ["wrk", "-t2", "-c20", f"-d{seconds}s", "-s", script.name, base_url],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    figures = dict(re.findall(r"^(\w+) (\d+)$", output, re.MULTILINE))
    return {"p50": int(figures["p50_us"]) / 1000, "p95": int(figures["p95_us"]) / 1000,
            "rps": int(figures["requests"]) / seconds, "errors": int(figures["non2xx"])}


async def registry_database(organization_id: str) -> str:
    """The name of this network's registry database: the bench one holding an organisation
    just imported (other networks may be running bench sections at the same time)."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        names = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bench%registry'"
        )
    finally:
        await connection.close()
    name: str
    for (name,) in names:
        registry = await asyncpg.connect(POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}")
        try:
            if await registry.fetchval(
                "SELECT 1 FROM registry_organizations WHERE id = $1", uuid.UUID(organization_id)
            ):
                return name
        finally:
            await registry.close()
    raise RuntimeError("the imported directory is in no bench registry database")


async def outbox_drained(database: str, limit_seconds: float) -> tuple[float, bool]:
    """Waits until the registry's relay has published the import's events (they load the
    whole network)."""
    started = time.perf_counter()
    registry = await asyncpg.connect(POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}")
    try:
        while time.perf_counter() - started < limit_seconds:
            if not await registry.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                return time.perf_counter() - started, True
            await asyncio.sleep(2)
    finally:
        await registry.close()
    return time.perf_counter() - started, False


def queued_messages(queue_prefix: str) -> int:
    """Messages ready or unacknowledged in the network's queues (its consumers' backlog)."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "messages"],
        capture_output=True, text=True, check=True,
    ).stdout
    return sum(
        int(count) for name, count in (line.split() for line in listing.splitlines() if line.strip())
        if name.startswith(f"{queue_prefix}.") and not name.endswith(".dead")
    )


async def consumers_drained(queue_prefix: str, limit_seconds: float) -> tuple[float, bool]:
    """Waits until the other services have consumed the import's events."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_seconds:
        if not queued_messages(queue_prefix):
            return time.perf_counter() - started, True
        await asyncio.sleep(2)
    return time.perf_counter() - started, False


async def measure(bench: Bench) -> str:
    rng = random.Random(3)
    registry = bench.direct_url("registry")
    directory = generated_directory(rng)
    body = json.dumps(directory, ensure_ascii=False).encode()
    async with httpx.AsyncClient(base_url=registry, timeout=900) as client:
        started = time.perf_counter()
        response = await client.post("/v1/hsds/dataset", content=body, headers=bench.admin)
        import_seconds = time.perf_counter() - started
        response.raise_for_status()
        report = response.json()
    print(f"registry_search: imported in {import_seconds:.1f} s: {report}", flush=True)
    waited, drained = await outbox_drained(await registry_database(directory[0]["id"]), 600)
    consumed, all_consumed = await consumers_drained(bench.queue_prefix, 900)
    relay = (
        f"were all published by the outbox relay {waited:.0f} s after the import"
        if drained else "were still being published by the outbox relay during the searches "
        "(the wait is capped at 600 s)"
    ) + (
        f" and consumed by the other services {consumed:.0f} s later, before the searches"
        if all_consumed else ", and still being consumed by the other services during the "
        "searches (that wait is capped at 900 s)"
    )
    # Waiting for the events can outlast the admin's token: the searches take a new one.
    token = (await admin_token(bench.client, "network-admin", ADMIN_SECRET))["Authorization"]
    texts, radii = text_queries(rng, 500), radius_queries(rng, 500)
    await asyncio.to_thread(wrk_paths, registry, token, texts + radii, 10)  # warm caches
    load_before = os.getloadavg()[0]
    text = await asyncio.to_thread(wrk_paths, registry, token, texts, 20)
    radius = await asyncio.to_thread(wrk_paths, registry, token, radii, 20)
    load_after = os.getloadavg()[0]
    created = report["services"]["created"]
    return f"""## Registry search

A generated directory of {created:,} services in {report['organizations']['created']:,}
organisations across the fifteen countries (names and descriptions in each country's language,
1–2 locations each, 10 % confidential), imported as one HSDS JSON dataset of
{len(body) / 1e6:.0f} MB direct to the registry (`POST /v1/hsds/dataset`: validation, then
one transaction with an outbox event per object; timed to the response, after which the
registry vacuums the imported tables). Search: wrk, 20 connections for 20 s direct to the
registry process (one, as each replica of the deployment), each request another of 500
queries, after a 10 s warm-up.

| | figure | target |
|---|---|---|
| import of the dataset | {import_seconds:.1f} s | ≤ 60 s |
| search `q` + `category` + `country` | p95 {text['p95']:.1f} ms (median {text['p50']:.1f} ms, {text['rps']:.0f}/s, {text['errors']} non-2xx) | p95 ≤ 30 ms |
| search radius 50 km + `category` | p95 {radius['p95']:.1f} ms (median {radius['p50']:.1f} ms, {radius['rps']:.0f}/s, {radius['errors']} non-2xx) | p95 ≤ 30 ms |

The import's {created + report['organizations']['created']:,} events {relay}. The machine's
load average (1 min) was {load_before:.1f} before the searches and {load_after:.1f} after them,
on {os.cpu_count()} cores shared with PostgreSQL, RabbitMQ, wrk and whatever else was running.
"""
