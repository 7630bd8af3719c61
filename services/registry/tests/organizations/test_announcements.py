"""Organisations announced again, for consumers that started after they were created."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from services.registry.tests.conftest import Registry
from waymark_registry.organizations.announcements import announce_all

pytestmark = pytest.mark.integration  # runs the command line in processes


async def test_every_organisation_is_announced_again_with_its_contact_address(
    registry: Registry
) -> None:
    organizations = [
        await registry.organization(email="desk@first.test"),
        await registry.organization(email="desk@second.test", country="LB"),
        await registry.organization(),
    ]
    created = await registry.outbox()

    announced = await announce_all(registry.app.state.database, batch=2)

    assert announced == 3
    again = (await registry.outbox())[len(created):]
    assert sorted(again, key=lambda event: event[1]["organization_id"]) == sorted((
        ("organization.updated", {
            "organization_id": organization["id"], "name": organization["name"],
            "type": "cso", "country": organization["country"], "verified": False,
            "email": organization["email"], "changed_fields": [],
        }) for organization in organizations
    ), key=lambda event: event[1]["organization_id"])


def test_the_command_announces_the_organisations_of_a_data_folder(tmp_path: Path) -> None:
    environment = {**os.environ, "WAYMARK_MODE": "standalone", "WAYMARK_DATA_DIR": str(tmp_path)}
    dataset = tmp_path / "in.json"
    dataset.write_text(json.dumps([{
        "id": str(uuid.uuid4()), "name": "Kyrgyz Red Crescent", "description": "",
        "country": "KG", "type": "national_society", "email": "desk@redcrescent.test",
        "services": [],
    }]))

    def waymark(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "waymark_cli.main", "registry", *arguments],
            check=False, env=environment, capture_output=True, text=True, timeout=60,
        )

    assert waymark("import", str(dataset)).returncode == 0
    announced = waymark("announce-organizations")
    assert announced.returncode == 0, announced.stderr
    assert announced.stdout.strip() == "announced 1 organisations"
