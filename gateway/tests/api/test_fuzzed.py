"""The merged API document against the running standalone network (`waymark run`, demo data),
authenticated as a caseworker of a demo organisation: it lists every public route of every
service and nothing internal, and Schemathesis finds no fault.

CI runs a fixed seed with a few examples per operation; `make fuzz` runs deeper
(FUZZ_EXAMPLES, FUZZ_SEED)."""

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from tests.e2e.support import Network
from waymark_kernel.settings import RunMode, Settings

EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "10")
SEED = os.environ.get("FUZZ_SEED", "1")
# Checks Schemathesis runs beside its defaults' failure-free ones. Left out, on purpose:
# positive_data_acceptance expects every schema-valid input to succeed, but the API rightly
# refuses inputs no schema can describe (a cursor it never issued, an unassigned country code
# such as QB, a taxonomy code that does not exist, date_of_birth together with age_estimate).
EXCLUDED_CHECKS = "positive_data_acceptance"
# A query longer than the gateway's request-target bound (8 KiB) is refused before any service
# sees it, with 414: a rejection like the others (a 2048-character cursor, each character
# percent-encoded, passes the bound).
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422",
                     "428", "429", "5xx"]
"""


def routes_of(routes: list[BaseRoute], documented: bool = True) -> Iterator[tuple[APIRoute, bool]]:
    """Every endpoint route, through included routers, and whether it is in the document."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route, documented and route.include_in_schema
        elif hasattr(route, "original_router"):  # an included router
            included: Any = route
            yield from routes_of(
                included.original_router.routes,
                documented and included.include_context.include_in_schema,
            )


def service_routes() -> dict[str, set[tuple[str, str]]]:
    """Each service's routes as (method, path), split into public (documented /v1) and other."""
    from waymark_notifications.main import create_app as notifications
    from waymark_referrals.main import create_app as referrals
    from waymark_registry.main import create_app as registry

    routes: dict[str, set[tuple[str, str]]] = {"public": set(), "internal": set()}
    settings = Settings(
        mode=RunMode.standalone, data_dir=Path("/nonexistent-never-started"),
        encryption_key=base64.b64encode(bytes(32)).decode(),
    )
    for create_app in (registry, referrals, notifications):
        for route, documented in routes_of(create_app(settings).router.routes):
            public = documented and route.path.startswith("/v1/")
            for method in route.methods or ():
                routes["public" if public else "internal"].add((method.lower(), route.path))
    return routes


def test_the_merged_document_lists_every_public_route_and_nothing_internal(
    network: Network
) -> None:
    document = httpx.get(f"{network.base_url}/openapi.json", timeout=10).json()
    documented = {
        (method, path) for path, item in document["paths"].items() for method in item
        if method in ("get", "put", "post", "patch", "delete", "head", "options")
    }
    routes = service_routes()

    assert len(routes["public"]) > 40
    assert len(routes["internal"]) >= 3
    assert routes["public"] - documented == set()
    assert routes["internal"] & documented == set()
    assert not any(path.startswith(("/healthz", "/readyz", "/metrics", "/openapi")) for _, path in documented)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status == "default" or int(status) >= 400:
                    assert set(response["content"]) == {"application/problem+json"}, (method, path)
                    assert response["content"]["application/problem+json"]["example"]["status"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_schemathesis_finds_no_fault_in_the_merged_document(
    network: Network, nepal_caseworker: dict[str, str], tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    # One worker: Hypothesis parses its lambdas' source, and CPython 3.11's parser can fail
    # across threads ("AST constructor recursion depth mismatch", cpython gh-106905).
    command = [
        str(schemathesis), "run", f"{network.base_url}/openapi.json",
        "--header", f"Authorization: {nepal_caseworker['Authorization']}",
        "--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1",
        "--exclude-checks", EXCLUDED_CHECKS, "--no-color", "--output-sanitize", "true",
        "--request-timeout", "10", "--generation-database", "none",
    ]
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    result = subprocess.run(command, check=False, capture_output=True, text=True, cwd=tmp_path)

    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-4000:]
