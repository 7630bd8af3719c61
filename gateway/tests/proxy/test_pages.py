from waymark_gateway.proxy.pages import is_api_path


def test_the_api_operations_and_documents_stay_the_gateways() -> None:
    for path in ("/v1", "/v1/cases", "/.well-known/jwks.json", "/docs", "/docs/assets/x.js",
                 "/openapi.json", "/healthz", "/readyz", "/metrics"):
        assert is_api_path(path), path


def test_every_other_path_is_a_page() -> None:
    for path in ("/", "/sign-in", "/services", "/cases/new", "/v1x", "/docsy", "/metrics/x",
                 "/static/app.css"):
        assert not is_api_path(path), path
