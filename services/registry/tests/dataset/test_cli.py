"""`waymark registry import|export FILE` on a standalone data folder."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # runs the command line in processes

ORGANIZATION_ID, SERVICE_ID = str(uuid.uuid4()), str(uuid.uuid4())
DATASET = [{
    "id": ORGANIZATION_ID, "name": "Kazakh Red Crescent", "description": "", "country": "KZ",
    "type": "national_society",
    "services": [{
        "id": SERVICE_ID, "name": "Migrant help desk", "status": "active",
        "attributes": [{"id": str(uuid.uuid4()), "taxonomy_term": {
            "id": str(uuid.uuid4()), "code": "legal.information", "name": "x", "description": "",
        }}],
        "service_at_locations": [{"id": str(uuid.uuid4()), "location": {
            "id": str(uuid.uuid4()), "location_type": "physical", "latitude": 43.24,
            "longitude": 76.95, "addresses": [{
                "id": str(uuid.uuid4()), "address_1": "", "city": "Almaty",
                "state_province": "", "postal_code": "", "country": "KZ",
                "address_type": "physical",
            }],
        }}],
    }],
}]


def waymark(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "WAYMARK_MODE": "standalone", "WAYMARK_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "waymark_cli.main", "registry", *arguments],
        check=False, env=environment, capture_output=True, text=True, timeout=60,
    )


def test_import_refuses_an_invalid_file_then_imports_and_exports(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(DATASET))
    broken[0]["country"] = "Kazakhstan"
    broken[0]["services"][0]["service_at_locations"][0]["location"]["latitude"] = -91
    invalid, valid, exported = tmp_path / "bad.json", tmp_path / "in.json", tmp_path / "out.json"
    invalid.write_text(json.dumps(broken, indent=1))
    valid.write_text(json.dumps(DATASET))

    refused = waymark(tmp_path, "import", str(invalid))
    imported = waymark(tmp_path, "import", str(valid))
    export = waymark(tmp_path, "export", str(exported))

    assert refused.returncode == 1
    assert f"{invalid}:2: [0]: country:" in refused.stderr
    # A location's problem is placed at the location itself.
    lines = [line.strip() for line in invalid.read_text().splitlines()]
    location_line = lines.index('"location": {') + 1
    assert f"{invalid}:{location_line}: [0].services[0]: locations.0.latitude:" in refused.stderr
    assert imported.returncode == 0, imported.stderr
    # Nothing of the refused file was kept: everything is created now.
    assert "services: 1 created, 0 updated, 0 unchanged" in imported.stdout
    assert export.returncode == 0
    service = json.loads(exported.read_text())[0]["services"][0]
    assert (service["id"], service["categories"]) == (SERVICE_ID, ["legal.information"])


def test_a_tabular_package_in_a_folder_or_a_zip(tmp_path: Path) -> None:
    source, target, copy = tmp_path / "source", tmp_path / "target", tmp_path / "copy"
    dataset = tmp_path / "in.json"
    dataset.write_text(json.dumps(DATASET))
    assert waymark(source, "import", str(dataset)).returncode == 0

    folder = waymark(source, "export", "--format", "csv", str(tmp_path / "package"))
    archive = waymark(source, "export", "--format", "csv", str(tmp_path / "package.zip"))
    from_folder = waymark(target, "import", str(tmp_path / "package"))
    from_zip = waymark(copy, "import", str(tmp_path / "package.zip"))
    exported = waymark(target, "export", str(tmp_path / "out.json"))

    assert (folder.returncode, archive.returncode) == (0, 0)
    # Laid out as the HSDS 3.0 specification's datapackage.json names its files.
    assert sorted(p.name for p in (tmp_path / "package").iterdir()) == [
        "accessibility.csv", "addresses.csv", "attributes.csv", "contacts.csv", "cost_options.csv",
        "datapackage.json", "languages.csv", "locations.csv", "organization_identifiers.csv",
        "organizations.csv", "phones.csv", "required_documents.csv", "schedules.csv",
        "service_areas.csv", "service_at_location.csv", "services.csv", "taxonomies.csv",
        "taxonomy_terms.csv", "translations.csv",
    ]
    assert "services: 1 created" in from_folder.stdout, from_folder.stderr
    assert "services: 1 created" in from_zip.stdout, from_zip.stderr
    assert exported.returncode == 0
    service = json.loads((tmp_path / "out.json").read_text())[0]["services"][0]
    assert (service["id"], service["categories"]) == (SERVICE_ID, ["legal.information"])


def test_a_bad_row_of_a_package_is_shown_with_its_file_and_line_and_a_dry_run_changes_nothing(
    tmp_path: Path,
) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "organizations.csv").write_text(
        f"id,name,country,type\r\n{ORGANIZATION_ID},Kazakh Red Crescent,KZ,national_society\r\n"
    )
    services = package / "services.csv"
    services.write_text(
        f"id,organization_id,name,status\r\n{SERVICE_ID},{ORGANIZATION_ID},Help desk,open\r\n"
    )

    refused = waymark(tmp_path, "import", str(package))
    services.write_text(services.read_text().replace(",open", ",active"))
    dry_run = waymark(tmp_path, "import", "--dry-run", str(package))
    imported = waymark(tmp_path, "import", str(package))

    assert refused.returncode == 1
    assert f"{package}/services.csv:2: [0].services[0]: status:" in refused.stderr
    assert dry_run.returncode == 0, dry_run.stderr
    assert "dry run: nothing was changed" in dry_run.stdout
    assert "services: 1 created, 0 updated, 0 unchanged" in dry_run.stdout
    assert "warning: [0].services[0]: uncategorised:" in dry_run.stdout
    # The dry run wrote nothing: the real import creates the same.
    assert "services: 1 created, 0 updated, 0 unchanged" in imported.stdout, imported.stderr
    assert "dry run" not in imported.stdout
