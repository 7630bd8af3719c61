"""`waymark backup` and `waymark restore`, as an operator runs them: a network with data is
backed up while it runs, destroyed, restored into fresh databases and started again."""

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.flow import (
    PERSON,
    created,
    organisation_with_client,
    refer_when_receiver_known,
    service_body,
    token,
)
from tests.e2e.support import (
    ADMIN_SECRET,
    PARTS,
    Network,
    WebhookReceiver,
    clean_up,
    start,
    stop,
)

pytestmark = pytest.mark.integration  # starts networks of processes

SERVICES_WITH_OUTBOX = ("registry", "referrals", "notifications")


@dataclass
class Installation:
    """One network's data (a data folder, and in distributed mode its databases and queues)."""

    mode: str
    root: Path
    names: str = field(default_factory=lambda: f"backup_{uuid.uuid4().hex[:10]}")

    @property
    def data_dir(self) -> Path:
        return self.root / "var"

    @property
    def environment(self) -> dict[str, str]:
        environment = {
            "WAYMARK_DATA_DIR": str(self.data_dir),
            "WAYMARK_MODE": self.mode,
            "WAYMARK_SEED_DEMO": "false",
        }
        if self.mode == "distributed":  # databases, exchange and queues of this test alone
            environment |= {
                "WAYMARK_DATABASE_PREFIX": self.names,
                "WAYMARK_EVENT_EXCHANGE": f"{self.names}.events",
                "WAYMARK_QUEUE_PREFIX": self.names,
            }
        return environment

    def waymark(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "waymark_cli", *arguments],
            check=False, env={**os.environ, **self.environment},
            capture_output=True,
            text=True,
            timeout=180,
        )

    def start(self) -> Network:
        self.root.mkdir(parents=True, exist_ok=True)
        return start("run" if self.mode == "standalone" else "up", self.root, self.environment)

    async def count(self, part: str, query: str) -> int:
        if self.mode == "standalone":
            path = self.data_dir / f"{part}.db"
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as database:
                counted: int = database.execute(query).fetchone()[0]
                return counted
        connection = await asyncpg.connect(
            f"postgresql://postgres@127.0.0.1:5432/{self.names}_{part}"
        )
        try:
            fetched: int = await connection.fetchval(query)
            return fetched
        finally:
            await connection.close()

    async def message_counts(self) -> dict[str, tuple[int, int, int]]:
        """Per service: outbox rows, of them unpublished, processed event ids."""
        return {
            part: (
                await self.count(part, "SELECT count(*) FROM outbox"),
                await self.count(part, "SELECT count(*) FROM outbox WHERE published_at IS NULL"),
                await self.count(part, "SELECT count(*) FROM processed_events"),
            )
            for part in SERVICES_WITH_OUTBOX
        }

    async def settled(self, timeout: float = 30) -> None:
        """Until every outbox is drained and what was published has been handled."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(unpublished for _, unpublished, _ in (await self.message_counts()).values()):
            assert asyncio.get_running_loop().time() < deadline, await self.message_counts()
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)

    async def destroy(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.mode == "distributed":
            await clean_up(self.names, f"{self.names}.events", self.names)


async def populate(base_url: str, receiver: WebhookReceiver) -> dict[str, Any]:
    """Two organisations, a case with consent, a referral sent and accepted, a webhook each."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        _origin, origin_headers = await organisation_with_client(client, admin, "Origin", "NP")
        destination, _ = await organisation_with_client(client, admin, "Destination", "LB")
        credentials = await created(
            await client.post(
                f"/v1/organizations/{destination['id']}/clients",
                headers=admin,
                json={"name": "backup test", "roles": ["org_admin", "caseworker"]},
            )
        )
        destination_headers = await token(
            client, credentials["client_id"], credentials["client_secret"]
        )
        service = await created(
            await client.post(
                "/v1/services",
                headers=destination_headers,
                json=service_body(destination["id"], "LB", "Beirut"),
            )
        )
        subscription = await created(
            await client.post(
                "/v1/subscriptions",
                headers=destination_headers,
                json={"url": receiver.url, "event_types": ["referral.*"], "description": "backup"},
            )
        )
        case = await created(
            await client.post(
                "/v1/cases",
                headers=origin_headers,
                json={"person": PERSON, "vulnerabilities": ["domestic_worker"]},
            )
        )
        consent = await client.put(
            f"/v1/cases/{case['id']}/consent",
            headers=origin_headers,
            json={
                "legal_basis": "consent",
                "scope": {"countries": ["LB"]},
                "given_at": "2026-11-20T10:00:00Z",
                "method": "verbal",
                "notes": "explained",
            },
        )
        assert consent.status_code == 200, consent.text
        referral = await refer_when_receiver_known(
            client,
            origin_headers,
            {
                "case_id": case["id"],
                "receiver_org_id": destination["id"],
                "service_id": service["id"],
                "migration_stage": "destination",
                "categories": service["categories"],
                "urgency": "high",
                "reason": "Unpaid wages",
                "shared_fields": ["given_name", "phone"],
            },
        )
        seen = await client.get(f"/v1/referrals/{referral['id']}", headers=destination_headers)
        accepted = await client.post(
            f"/v1/referrals/{referral['id']}/transitions",
            headers={**destination_headers, "If-Match": seen.headers["ETag"]},
            json={"to": "accepted", "note": "we call on Sunday"},
        )
        assert accepted.status_code == 200, accepted.text
        await receiver.wait_for(2)
        assert len(receiver.received) == 2
        feed = await client.get("/v1/events", headers=destination_headers)
        inbox = await client.get("/v1/inbox", headers=destination_headers)
    return {
        "referral_id": referral["id"],
        "case_id": case["id"],
        "secret": subscription["secret"],
        "destination_client": (credentials["client_id"], credentials["client_secret"]),
        "origin_headers": origin_headers,
        "feed": [item["id"] for item in feed.json()["items"]],
        "inbox": [item["event_id"] for item in inbox.json()["items"]],
    }


async def feed_and_inbox(
    client: httpx.AsyncClient, headers: dict[str, Any]
) -> tuple[list[str], list[str]]:
    feed = await client.get("/v1/events", headers=headers)
    inbox = await client.get("/v1/inbox", headers=headers)
    assert feed.status_code == inbox.status_code == 200
    return [i["id"] for i in feed.json()["items"]], [i["event_id"] for i in inbox.json()["items"]]


@pytest.mark.timeout(900)  # three networks started in turn
@pytest.mark.parametrize("mode", ["standalone", "distributed"])
async def test_a_network_restored_from_its_backup_keeps_its_data_and_repeats_nothing(
    tmp_path: Path, webhook_receiver: WebhookReceiver, mode: str
) -> None:
    original = Installation(mode, tmp_path / "original")
    restored = Installation(mode, tmp_path / "restored")  # fresh databases, fresh queues
    replayed = Installation(mode, tmp_path / "replayed")
    try:
        await backed_up_destroyed_and_restored(
            original, restored, replayed, tmp_path, webhook_receiver
        )
    finally:
        for installation in (original, restored, replayed):
            await installation.destroy()


async def backed_up_destroyed_and_restored(
    original: Installation,
    restored: Installation,
    replayed: Installation,
    tmp_path: Path,
    receiver: WebhookReceiver,
) -> None:
    backup, keys = tmp_path / "backup", tmp_path / "keys"
    network = original.start()
    try:
        before = await populate(network.base_url, receiver)
        await original.settled()
        refused = original.waymark("backup", str(backup), "--keys", str(backup / "keys"))
        assert refused.returncode == 1
        assert "outside" in refused.stdout
        made = original.waymark("backup", str(backup), "--keys", str(keys))  # while it runs
        assert made.returncode == 0, made.stdout + made.stderr
    finally:
        stop(network)
    counts = await original.message_counts()
    encryption_key = (original.data_dir / "encryption.key").read_text().strip()
    signing_key = (original.data_dir / "gateway-signing-key.pem").read_bytes()
    await original.destroy()

    # The keys are in their own folder, readable by the owner alone, and nowhere in the backup.
    assert (keys / "encryption.key").read_text().strip() == encryption_key
    assert (keys / "gateway-signing-key.pem").read_bytes() == signing_key
    assert {oct(path.stat().st_mode & 0o777) for path in keys.iterdir()} == {"0o600"}
    extension = "db" if original.mode == "standalone" else "dump"
    assert sorted(path.name for path in backup.iterdir()) == sorted(
        [f"{part}.{extension}" for part in PARTS] + ["waymark-backup.json"]
    )
    for path in backup.iterdir():
        content = path.read_bytes()
        assert encryption_key.encode() not in content, path.name
        assert signing_key not in content, path.name

    # Restored into fresh databases, with no event published again.
    done = restored.waymark("restore", str(backup), "--keys", str(keys), "--republish-window", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    again = restored.waymark("restore", str(backup), "--keys", str(keys))
    assert again.returncode == 1
    assert ("exists" in again.stdout or "not empty" in again.stdout)
    assert await restored.message_counts() == counts
    ledger = restored.waymark("referrals", "verify-ledger")
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr
    assert "intact" in ledger.stdout, ledger.stdout + ledger.stderr
    assert " 0 entries" not in ledger.stdout

    network = restored.start()
    try:
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
            destination = await token(client, *before["destination_client"])  # clients survive
            referral = await client.get(
                f"/v1/referrals/{before['referral_id']}", headers=destination
            )
            assert referral.status_code == 200, referral.text
            assert referral.json()["status"] == "accepted"
            assert referral.json()["person"]["given_name"] == PERSON["given_name"]  # unsealed
            # A token issued before the backup still verifies: the signing key came back too.
            case = await client.get(
                f"/v1/cases/{before['case_id']}", headers=before["origin_headers"]
            )
            assert case.status_code == 200, case.text
            assert case.json()["person"]["safe_contact"] == PERSON["safe_contact"]

            started = await client.post(
                f"/v1/referrals/{before['referral_id']}/transitions",
                headers={**destination, "If-Match": referral.headers["ETag"]},
                json={"to": "in_progress"},
            )
            assert started.status_code == 200, started.text
            await receiver.wait_for(3)
            await restored.settled()
            # The webhook secret was unsealed: the new delivery is signed with the same secret;
            # and nothing published before the backup went out again.
            verifier = Webhook(before["secret"])
            types = sorted(
                verifier.verify(body, headers)["type"] for headers, body in receiver.received
            )
            assert types == ["referral.accepted", "referral.in_progress", "referral.requested"]
            assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 3
            feed, inbox = await feed_and_inbox(client, destination)
            assert feed[: len(before["feed"])] == before["feed"]
            assert len(feed) == len(before["feed"]) + 1
            assert len(inbox) == len(set(inbox))
    finally:
        stop(network)

    # With the default window the events published just before the backup go out again; the
    # consumers recognise them by their ids and apply none of them a second time.
    done = replayed.waymark("restore", str(backup), "--keys", str(keys))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recent events will be published again" in done.stdout
    assert sum(unpublished for _, unpublished, _ in (await replayed.message_counts()).values()) > 0
    network = replayed.start()
    try:
        await replayed.settled()
        assert {
            part: (total, processed)
            for part, (total, _, processed) in (await replayed.message_counts()).items()
        } == {part: (total, processed) for part, (total, _, processed) in counts.items()}
        assert len(receiver.received) == 3
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
            destination = await token(client, *before["destination_client"])
            feed, inbox = await feed_and_inbox(client, destination)
        assert feed == before["feed"]
        assert sorted(inbox) == sorted(before["inbox"])
    finally:
        stop(network)


def test_a_backup_or_restore_refuses_what_it_cannot_do_safely(tmp_path: Path) -> None:
    installation = Installation("standalone", tmp_path)
    installation.data_dir.mkdir()
    (installation.data_dir / "encryption.key").write_text("A" * 43 + "=")
    (installation.data_dir / "gateway-signing-key.pem").write_text("")
    made = installation.waymark(
        "backup", str(tmp_path / "backup"), "--keys", str(tmp_path / "keys")
    )
    assert made.returncode == 1
    assert "does not exist" in made.stdout

    other_keys = tmp_path / "other-keys"
    other_keys.mkdir()
    (other_keys / "encryption.key").write_text("B" * 43 + "=")
    (other_keys / "gateway-signing-key.pem").write_text("")
    backup = tmp_path / "a-backup"
    backup.mkdir()
    (backup / "waymark-backup.json").write_text(
        json.dumps(
            {"format": 1, "mode": "standalone", "encryption_key_id": "0123abcd", "parts": {}}
        )
    )
    refused = installation.waymark("restore", str(backup), "--keys", str(other_keys))
    assert refused.returncode == 1
    assert "do not open this backup" in refused.stdout
