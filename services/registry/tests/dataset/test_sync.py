"""`waymark registry sync URL` against an HSDS 3.0 publisher served by the test on loopback."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.registry.tests.conftest import FakePublisher

pytestmark = pytest.mark.integration  # runs the command line in processes


def waymark(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "WAYMARK_MODE": "standalone", "WAYMARK_DATA_DIR": str(tmp_path),
                   "WAYMARK_HSDS_SOURCE_ALLOW_INSECURE": "true"}  # the publisher is on loopback
    return subprocess.run(
        [sys.executable, "-m", "waymark_cli.main", "registry", *arguments],
        check=False, env=environment, capture_output=True, text=True, timeout=60,
    )


def exported(tmp_path: Path) -> dict[str, dict[str, Any]]:
    out = tmp_path / "out.json"
    assert waymark(tmp_path, "export", str(out)).returncode == 0
    return {s["id"]: s for o in json.loads(out.read_text()) for s in o["services"]}


def test_sync_creates_then_withdraws_and_a_failing_source_changes_nothing(
    tmp_path: Path, publisher: tuple[FakePublisher, str]
) -> None:
    published, url = publisher
    data = tmp_path / "data"

    first = waymark(data, "sync", url)
    gone = published.services.pop(0)
    second = waymark(data, "sync", url)
    published.services[0]["name"] = "Food bank and pantry"
    published.services.append(published.service("Language cafe"))
    published.failing_page = 2  # the new service's page
    failed = waymark(data, "sync", url)
    services = exported(data)

    assert first.returncode == 0, first.stderr
    assert "organizations: 1 created" in first.stdout
    assert "services: 3 created, 0 updated, 0 unchanged" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "services: 0 created, 0 updated, 2 unchanged" in second.stdout
    assert "withdrawn: 1 services the source no longer lists" in second.stdout
    assert failed.returncode == 1
    assert "nothing was changed" in failed.stderr
    # The source's ids are kept; the withdrawn service is inactive; the failed sync left all.
    assert set(services) == {gone["id"], *(s["id"] for s in published.services[:2])}
    assert services[gone["id"]]["status"] == "inactive"
    assert services[published.services[0]["id"]]["name"] == "Food bank"
    assert services[published.services[0]["id"]]["schedules"][0]["opens_at"] == "09:30:00"
