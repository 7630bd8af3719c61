"""The registry's bulk import through the gateway takes more than the 1 MiB other routes do."""

import json

ONE_MIB = 1024 * 1024


def test_a_dataset_over_one_mebibyte_is_imported_by_the_network_admin(api, admin):
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


def test_the_api_document_gives_each_route_the_gateways_body_limit(api):
    paths = api.get("/openapi.json").json()["paths"]

    def too_large(path: str, method: str) -> str:
        response = paths[path][method]["responses"]["413"]
        return response["content"]["application/problem+json"]["example"]["detail"]

    assert too_large("/v1/hsds/dataset", "post") == (
        f"The request body is larger than {64 * ONE_MIB} bytes."
    )
    assert too_large("/v1/cases", "post") == f"The request body is larger than {ONE_MIB} bytes."
