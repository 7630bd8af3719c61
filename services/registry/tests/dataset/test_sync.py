"""`waymark registry sync URL` against an HSDS 3.0 publisher served by the test on loopback."""

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.integration  # runs the command line in processes

PAGE_SIZE = 2  # the publisher's own, whatever the client asks: its pages must be followed
ORGANIZATION_ID = str(uuid.uuid4())


def service(name: str) -> dict:
    location_id = str(uuid.uuid4())
    return {
        "id": str(uuid.uuid4()), "organization_id": ORGANIZATION_ID, "name": name,
        "description": f"{name} for people arriving in Leeds.", "status": "active",
        "schedules": [{"id": str(uuid.uuid4()), "freq": "WEEKLY", "byday": "TU",
                       "opens_at": "09:30:00", "closes_at": "12:00:00"}],
        "service_at_locations": [{"id": str(uuid.uuid4()), "location": {
            "id": location_id, "location_type": "physical", "addresses": [{
                "id": str(uuid.uuid4()), "location_id": location_id, "address_1": "1 Park Row",
                "city": "Leeds", "state_province": "", "postal_code": "LS1 5HN",
                "country": "GB", "address_type": "physical",
            }],
        }}],
    }


class Publisher:
    """What the HSDS API lists now, and a page it fails on, if any."""

    def __init__(self) -> None:
        self.services = [service("Advice desk"), service("Food bank"), service("Clothes bank")]
        self.organizations = [{"id": ORGANIZATION_ID, "name": "Leeds Welcome", "description": ""}]
        self.failing_page: int | None = None

    def page(self, path: str, number: int) -> dict | None:
        items = {"/services": self.services, "/organizations": self.organizations}.get(path)
        if items is None or number == self.failing_page:
            return None
        total_pages = max(1, -(-len(items) // PAGE_SIZE))
        contents = items[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
        return {"total_items": len(items), "total_pages": total_pages, "page_number": number,
                "size": len(contents), "first_page": number == 1,
                "last_page": number >= total_pages, "empty": not items, "contents": contents}


@pytest.fixture
def publisher() -> Iterator[tuple[Publisher, str]]:
    published = Publisher()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            url = urlsplit(self.path)
            number = int(parse_qs(url.query).get("page", ["1"])[0])
            page = published.page(url.path.removeprefix("/hsds"), number)
            body = json.dumps(page).encode()
            self.send_response(200 if page is not None else 500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield published, f"http://127.0.0.1:{server.server_address[1]}/hsds"
    finally:
        server.shutdown()
        server.server_close()


def waymark(tmp_path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "WAYMARK_MODE": "standalone", "WAYMARK_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "waymark_cli.main", "registry", *arguments],
        env=environment, capture_output=True, text=True, timeout=60,
    )


def exported(tmp_path) -> dict[str, dict]:
    out = tmp_path / "out.json"
    assert waymark(tmp_path, "export", str(out)).returncode == 0
    return {s["id"]: s for o in json.loads(out.read_text()) for s in o["services"]}


def test_sync_creates_then_withdraws_and_a_failing_source_changes_nothing(tmp_path, publisher):
    published, url = publisher
    data = tmp_path / "data"

    first = waymark(data, "sync", url)
    gone = published.services.pop(0)
    second = waymark(data, "sync", url)
    published.services[0]["name"] = "Food bank and pantry"
    published.services.append(service("Language cafe"))
    published.failing_page = 2  # the new service's page
    failed = waymark(data, "sync", url)
    services = exported(data)

    assert first.returncode == 0, first.stderr
    assert "organizations: 1 created" in first.stdout
    assert "services: 3 created, 0 updated, 0 unchanged" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "services: 0 created, 0 updated, 2 unchanged" in second.stdout
    assert "withdrawn: 1 services the source no longer lists" in second.stdout
    assert failed.returncode == 1 and "nothing was changed" in failed.stderr
    # The source's ids are kept; the withdrawn service is inactive; the failed sync left all.
    assert set(services) == {gone["id"], *(s["id"] for s in published.services[:2])}
    assert services[gone["id"]]["status"] == "inactive"
    assert services[published.services[0]["id"]]["name"] == "Food bank"
    assert services[published.services[0]["id"]]["schedules"][0]["opens_at"] == "09:30:00"
