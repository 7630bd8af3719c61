"""The registry's bulk import through the gateway takes more than the 1 MiB other routes do."""

import json

import httpx

ONE_MIB = 1024 * 1024


def test_a_dataset_over_one_mebibyte_is_imported_by_the_network_admin(
    api: httpx.Client, admin: dict[str, str]
) -> None:
    exported = api.get("/v1/hsds/dataset", headers=admin)
    assert exported.status_code == 200, exported.text
    dataset = exported.json()
    # The demo directory is small: an indented copy, padded with trailing blanks, passes 1 MiB.
    text = json.dumps(dataset, indent=2, ensure_ascii=False)
    body = (text + " " * (ONE_MIB + 1 - len(text))).encode()

    imported = api.post(
        "/v1/hsds/dataset", content=body,
        headers={**admin, "Content-Type": "application/json"},
    )

    assert len(body) > ONE_MIB
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert sum(report["organizations"].values()) == len(dataset)
    assert sum(report["services"].values()) == sum(
        len(organization["services"]) for organization in dataset
    )


def test_the_api_document_gives_each_route_the_gateways_body_limit(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]

    def too_large(path: str, method: str) -> str:
        response = paths[path][method]["responses"]["413"]
        detail: str = response["content"]["application/problem+json"]["example"]["detail"]
        return detail

    assert too_large("/v1/hsds/dataset", "post") == (
        f"The request body is larger than {64 * ONE_MIB} bytes."
    )
    assert too_large("/v1/cases", "post") == f"The request body is larger than {ONE_MIB} bytes."


def test_the_demo_directory_as_a_package_imports_back_unchanged_after_a_dry_run(
    api: httpx.Client, admin: dict[str, str]
) -> None:
    package = api.get("/v1/hsds/dataset", headers={**admin, "Accept": "application/zip"})
    dataset = api.get("/v1/hsds/dataset", headers=admin).json()
    renamed = dataset[0]["services"][0]
    renamed["name"] = "Renamed by a dry run"

    dry_run = api.post("/v1/hsds/dataset", params={"dry_run": "true"}, json=dataset,
                       headers=admin)
    fetched = api.get(f"/v1/services/{renamed['id']}", headers=admin)
    reimported = api.post("/v1/hsds/dataset", content=package.content,
                          headers={**admin, "Content-Type": "application/zip"})

    assert dry_run.status_code == 200, dry_run.text
    assert dry_run.json()["dry_run"] is True
    assert dry_run.json()["services"]["updated"] == 1
    assert fetched.json()["name"] != "Renamed by a dry run"
    assert reimported.status_code == 200, reimported.text
    report = reimported.json()
    # Every field of the profile travels in the package: organisations' languages too.
    assert report["organizations"] == {"created": 0, "updated": 0, "unchanged": len(dataset)}
    assert report["services"]["created"] == report["services"]["updated"] == 0
