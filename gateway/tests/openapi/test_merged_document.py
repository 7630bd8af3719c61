from html.parser import HTMLParser

from gateway.tests.conftest import Network, Serve, Standin


async def test_one_document_holds_every_services_paths_and_the_gateways(network: Network) -> None:
    response = await network.client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/registry-items/{item_id}" in paths
    assert "/v1/referrals-items/{item_id}" in paths
    assert "/v1/auth/token" in paths
    assert "/.well-known/jwks.json" in paths
    assert "/v1/organizations/{organization_id}/clients" in paths
    assert all(path.startswith(("/v1/", "/.well-known/")) for path in paths)
    assert not {"/healthz", "/readyz", "/metrics", "/internal/debug", "/openapi.json"} & set(paths)


async def test_clashing_schema_names_are_prefixed_and_references_follow(network: Network) -> None:
    document = (await network.client.get("/openapi.json")).json()

    schemas = document["components"]["schemas"]
    assert "registry_field" in schemas["Item"]["properties"]
    assert "referrals_field" in schemas["ReferralsItem"]["properties"]
    assert "HTTPValidationError" in schemas
    assert "ReferralsHTTPValidationError" not in schemas  # the same definition is shared
    referral_item = document["paths"]["/v1/referrals-items/{item_id}"]["get"]
    assert referral_item["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReferralsItem"
    }


async def test_the_document_declares_bearer_and_client_credentials_security(
    network: Network
) -> None:
    document = (await network.client.get("/openapi.json")).json()

    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    flow = schemes["clientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/v1/auth/token"
    assert {"bearerAuth": []} in document["security"]
    assert document["paths"]["/v1/auth/token"]["post"]["security"] == []


async def test_a_service_that_was_down_is_added_once_it_is_up(
    network: Network, standin: Standin, serve: Serve
) -> None:
    before = (await network.client.get("/openapi.json")).json()

    async with serve(standin("notifications"), network.notifications_port):
        after = (await network.client.get("/openapi.json")).json()

    assert "/v1/notifications-items/{item_id}" not in before["paths"]
    assert "/v1/registry-items/{item_id}" in before["paths"]
    assert "/v1/notifications-items/{item_id}" in after["paths"]
    assert "NotificationsItem" in after["components"]["schemas"]


async def test_the_documentation_page_reads_the_merged_document(network: Network) -> None:
    response = await network.client.get("/docs")

    assert response.status_code == 200
    assert "/openapi.json" in response.text


class References(HTMLParser):
    """The addresses a page loads: scripts, style sheets, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        url = attributes.get("src") if tag == "script" else attributes.get("href")
        if tag in ("script", "link") and url:
            self.urls.append(url)


async def test_every_file_the_documentation_page_loads_comes_from_the_gateway(
    network: Network
) -> None:
    page = await network.client.get("/docs")
    references = References()
    references.feed(page.text)

    served = {url: await network.client.get(url) for url in references.urls}

    assert len(served) == 3  # the script, the style sheet and the icon
    assert "://" not in page.text  # nothing from another host, not even a validator badge
    for url, response in served.items():
        assert url.startswith("/docs/assets/"), url
        assert response.status_code == 200, url
        assert response.content, url
    [script] = [response for url, response in served.items() if url.endswith(".js")]
    assert "SwaggerUIBundle" in script.text
    assert (await network.client.get("/docs/assets/index.html")).status_code == 404


async def test_there_is_one_documentation_page(network: Network) -> None:
    assert (await network.client.get("/redoc")).status_code == 404
