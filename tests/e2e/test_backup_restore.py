"""`waymark backup` and `waymark restore`, as an operator runs them: a network with data is
backed up while it runs, destroyed, restored into fresh databases and started again."""

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook

from tests.e2e.flow import (
    PERSON,
    created,
    organisation_with_client,
    refer_when_receiver_known,
    service_body,
    token,
)
from tests.e2e.support import ADMIN_SECRET, PARTS, Network, WebhookReceiver, start, stop

SERVICES_WITH_OUTBOX = ("registry", "referrals", "notifications")


def waymark(data_dir: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "WAYMARK_DATA_DIR": str(data_dir), "WAYMARK_MODE": "standalone"}
    return subprocess.run(
        [sys.executable, "-m", "waymark_cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def count(data_dir: Path, part: str, query: str) -> int:
    with sqlite3.connect(f"file:{data_dir / f'{part}.db'}?mode=ro", uri=True) as connection:
        return connection.execute(query).fetchone()[0]


def message_counts(data_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Per part: outbox rows, of them unpublished, processed event ids."""
    return {
        part: (
            count(data_dir, part, "SELECT count(*) FROM outbox"),
            count(data_dir, part, "SELECT count(*) FROM outbox WHERE published_at IS NULL"),
            count(data_dir, part, "SELECT count(*) FROM processed_events"),
        )
        for part in SERVICES_WITH_OUTBOX
    }


async def populate(base_url: str, receiver: WebhookReceiver) -> dict:
    """Two organisations, a case with consent, a referral sent and accepted, a webhook each."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        origin, origin_headers = await organisation_with_client(client, admin, "Origin", "NP")
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


async def settled(data_dir: Path, timeout: float = 20) -> None:
    """Until every outbox is drained (the relays have published what they had)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while any(unpublished for _, unpublished, _ in message_counts(data_dir).values()):
        assert asyncio.get_running_loop().time() < deadline, message_counts(data_dir)
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # and what they published has been handled


async def feed_and_inbox(client: httpx.AsyncClient, headers: dict) -> tuple[list[str], list[str]]:
    feed = await client.get("/v1/events", headers=headers)
    inbox = await client.get("/v1/inbox", headers=headers)
    assert feed.status_code == inbox.status_code == 200
    return [i["id"] for i in feed.json()["items"]], [i["event_id"] for i in inbox.json()["items"]]


def start_on(data_dir_parent: Path) -> Network:
    data_dir_parent.mkdir(parents=True, exist_ok=True)
    return start("run", data_dir_parent, {"WAYMARK_SEED_DEMO": "false"})


async def test_a_standalone_network_restored_from_its_backup_keeps_its_data_and_repeats_nothing(
    tmp_path: Path, webhook_receiver: WebhookReceiver
):
    original = start_on(tmp_path / "original")
    try:
        before = await populate(original.base_url, webhook_receiver)
        await settled(original.data_dir)
        backup, keys = tmp_path / "backup", tmp_path / "keys"
        refused = waymark(original.data_dir, "backup", str(backup), "--keys", str(backup / "keys"))
        assert refused.returncode == 1 and "outside" in refused.stdout
        made = waymark(original.data_dir, "backup", str(backup), "--keys", str(keys))  # online
        assert made.returncode == 0, made.stdout + made.stderr
    finally:
        stop(original)
    counts = message_counts(original.data_dir)
    encryption_key = (original.data_dir / "encryption.key").read_text().strip()
    signing_key = (original.data_dir / "gateway-signing-key.pem").read_bytes()
    shutil.rmtree(original.data_dir)

    # The keys are in their own folder, readable by the owner alone, and nowhere in the backup.
    assert (keys / "encryption.key").read_text().strip() == encryption_key
    assert (keys / "gateway-signing-key.pem").read_bytes() == signing_key
    assert {oct(path.stat().st_mode & 0o777) for path in keys.iterdir()} == {"0o600"}
    assert sorted(path.name for path in backup.iterdir()) == sorted(
        [f"{part}.db" for part in PARTS] + ["waymark-backup.json"]
    )
    for path in backup.iterdir():
        content = path.read_bytes()
        assert encryption_key.encode() not in content and signing_key not in content, path.name

    # A restore into the databases of another data folder, with no event published again.
    restored_dir = tmp_path / "restored" / "var"
    restored = waymark(
        restored_dir, "restore", str(backup), "--keys", str(keys), "--republish-window", "0"
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    again = waymark(restored_dir, "restore", str(backup), "--keys", str(keys))
    assert again.returncode == 1 and "exists" in again.stdout  # never over a database in use
    assert message_counts(restored_dir) == counts
    ledger = waymark(restored_dir, "referrals", "verify-ledger")
    assert ledger.returncode == 0 and "intact" in ledger.stdout, ledger.stdout + ledger.stderr
    assert "0 entries" not in ledger.stdout

    network = start_on(tmp_path / "restored")
    try:
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
            destination = await token(client, *before["destination_client"])  # clients survive
            referral = await client.get(
                f"/v1/referrals/{before['referral_id']}", headers=destination
            )
            assert referral.status_code == 200, referral.text
            assert referral.json()["status"] == "accepted"
            assert referral.json()["person"]["given_name"] == PERSON["given_name"]  # unsealed
            case = await client.get(
                f"/v1/cases/{before['case_id']}", headers=before["origin_headers"]
            )
            assert case.json()["person"]["safe_contact"] == PERSON["safe_contact"]

            started = await client.post(
                f"/v1/referrals/{before['referral_id']}/transitions",
                headers={**destination, "If-Match": referral.headers["ETag"]},
                json={"to": "in_progress"},
            )
            assert started.status_code == 200, started.text
            await webhook_receiver.wait_for(3)
            await settled(network.data_dir)
            # The webhook secret was unsealed: the new delivery is signed with the same secret.
            verifier = Webhook(before["secret"])
            types = [
                verifier.verify(body, headers)["type"]
                for headers, body in webhook_receiver.received
            ]
            # Nothing published before the backup went out again.
            assert sorted(types) == [
                "referral.accepted",
                "referral.in_progress",
                "referral.requested",
            ]
            ids = [headers["webhook-id"] for headers, _ in webhook_receiver.received]
            assert len(set(ids)) == 3
            feed, inbox = await feed_and_inbox(client, destination)
            assert (
                feed[: len(before["feed"])] == before["feed"]
                and len(feed) == len(before["feed"]) + 1
            )
            assert len(inbox) == len(set(inbox))
    finally:
        stop(network)

    # With the default window the events published just before the backup go out again; the
    # consumers recognise them by their ids and apply none of them a second time.
    replayed_dir = tmp_path / "replayed" / "var"
    replayed = waymark(replayed_dir, "restore", str(backup), "--keys", str(keys))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "recent events will be published again" in replayed.stdout
    assert sum(unpublished for _, unpublished, _ in message_counts(replayed_dir).values()) > 0
    network = start_on(tmp_path / "replayed")
    try:
        await settled(network.data_dir)
        assert {
            part: (total, processed)
            for part, (total, _, processed) in message_counts(replayed_dir).items()
        } == {part: (total, processed) for part, (total, _, processed) in counts.items()}
        assert len(webhook_receiver.received) == 3
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
            destination = await token(client, *before["destination_client"])
            feed, inbox = await feed_and_inbox(client, destination)
        assert feed == before["feed"]
        assert sorted(inbox) == sorted(before["inbox"])
    finally:
        stop(network)


def test_a_restore_refuses_keys_that_do_not_open_the_backup(tmp_path: Path):
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "encryption.key").write_text("A" * 43 + "=")
    (data_dir / "gateway-signing-key.pem").write_bytes(b"not read by a backup of no database")
    made = waymark(data_dir, "backup", str(tmp_path / "backup"), "--keys", str(tmp_path / "keys"))
    assert made.returncode == 1 and "does not exist" in made.stdout  # nothing to back up yet
    other_keys = tmp_path / "other-keys"
    other_keys.mkdir()
    (other_keys / "encryption.key").write_text("B" * 43 + "=")
    (other_keys / "gateway-signing-key.pem").write_text("")
    backup = tmp_path / "fake-backup"
    backup.mkdir()
    (backup / "waymark-backup.json").write_text(
        '{"format": 1, "mode": "standalone", "encryption_key_id": "%s", "parts": {}}'
        % uuid.uuid4().hex[:8]
    )
    refused = waymark(tmp_path / "fresh", "restore", str(backup), "--keys", str(other_keys))
    assert refused.returncode == 1 and "do not open this backup" in refused.stdout
