"""One API document for the whole network: the gateway's own paths plus every service's `/v1`
paths, with clashing component names prefixed by the service's name."""

import asyncio
import copy
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson

from waymark_gateway.proxy.upstreams import Upstreams
from waymark_kernel.problems import PROBLEM_BASE, Problem

log = logging.getLogger("waymark.gateway.openapi")
Document = dict[str, Any]
BodyLimit = Callable[[str, str], int]  # (method, path) -> the gateway's limit in bytes
COMPONENTS = "#/components/"
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
BUILT_IN_ISSUER_SCHEME = {
    "type": "oauth2",
    "flows": {"clientCredentials": {"tokenUrl": "/v1/auth/token", "scopes": {}}},
}
PROBLEM_SCHEMA = {
    "type": "object", "title": "Problem",
    "description": "An RFC 9457 problem document; never personal data, never a stack trace.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array", "description": "What is wrong with the request (422 only).",
            "items": {"type": "object", "properties": {
                "location": {"type": "array", "items": {"type": "string"}},
                "message": {"type": "string"},
            }},
        },
    },
    "additionalProperties": True,
}
PROBLEM_REF = {"$ref": f"{COMPONENTS}schemas/Problem"}
# What the gateway itself may answer on any proxied call, beside what the service documents.
GATEWAY_ERRORS = {
    "401": ("unauthenticated", "A bearer token is required."),
    "413": ("payload-too-large", "The request body is larger than {limit} bytes."),
    "422": ("validation-error", "The request is not valid; see `errors`."),
    "429": ("rate-limited", "This client has made too many requests; retry after the Retry-After delay."),
    "431": ("request-header-fields-too-large", "The request headers are larger than 16384 bytes."),
    "502": ("upstream-unavailable", "The service is unavailable; try again shortly."),
    "503": ("upstream-circuit-open", "The service is unavailable; retry after the Retry-After delay."),
    "504": ("upstream-timeout", "The service did not answer in time; try again shortly."),
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DESCRIPTION = (
    "The Waymark referral network. Get a token {where}, then send it on every call as "
    "`Authorization: Bearer <token>`. Errors are RFC 9457 problem documents."
)
BUILT_IN_ISSUER = (
    "with your client id and secret at `POST /v1/auth/token` (OAuth 2.0 client credentials)"
)
EXTERNAL_ISSUER = "from the network's OpenID Connect issuer (its discovery document: {url})"


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _rewrite_refs(value, renames) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(value, renames) for value in node]
    if isinstance(node, str):
        return renames.get(node, node)
    return node


def _without_clashes(document: Document, taken: Document, prefix: str) -> Document:
    """`document` with each component that differs from a same-named one in `taken` renamed.

    Renaming one component can change another that refers to it, so it runs to a fixed point."""
    renames: dict[str, str] = {}
    while True:
        components = _rewrite_refs(document.get("components", {}), renames)
        clashing = {
            f"{COMPONENTS}{section}/{name}": f"{COMPONENTS}{section}/{prefix}{name}"
            for section, entries in components.items()
            for name, definition in entries.items()
            if name in taken.get(section, {}) and taken[section][name] != definition
        }
        if clashing.keys() <= renames.keys():
            break
        renames.update(clashing)
    document = _rewrite_refs(document, renames)
    document["components"] = {
        section: {
            (prefix + name if f"{COMPONENTS}{section}/{name}" in renames else name): definition
            for name, definition in entries.items()
        }
        for section, entries in document.get("components", {}).items()
    }
    return document


def security_schemes(oidc_discovery_url: str | None) -> Document:
    """How a caller gets its token: from the built-in issuer, or the external one instead."""
    if oidc_discovery_url is None:
        return {"bearerAuth": BEARER_SCHEME, "clientCredentials": BUILT_IN_ISSUER_SCHEME}
    return {"bearerAuth": BEARER_SCHEME, "openIdConnect": {
        "type": "openIdConnect", "openIdConnectUrl": oidc_discovery_url,
    }}


def merge_documents(
    own: Document, services: dict[str, Document], body_limit: BodyLimit,
    oidc_discovery_url: str | None = None,
) -> Document:
    where = (
        BUILT_IN_ISSUER if oidc_discovery_url is None
        else EXTERNAL_ISSUER.format(url=oidc_discovery_url)
    )
    merged: Document = {
        "openapi": own["openapi"],
        "info": {**own["info"], "description": DESCRIPTION.format(where=where)},
        "paths": dict(own.get("paths", {})),
        "components": copy.deepcopy(own.get("components", {})),
        "tags": list(own.get("tags", [])),
    }
    for name, own_document in services.items():
        document = _without_clashes(own_document, merged["components"], name.title())
        for path, item in document.get("paths", {}).items():
            if path.startswith("/v1/") and path not in merged["paths"]:
                merged["paths"][path] = item
        for section, entries in document["components"].items():
            merged["components"].setdefault(section, {}).update(entries)
        known_tags = {tag["name"] for tag in merged["tags"]}
        merged["tags"] += [tag for tag in document.get("tags", []) if tag["name"] not in known_tags]
    merged["components"].setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, item in merged["paths"].items():
        for method in METHODS:
            if method in item:
                _document_problems(item[method], body_limit(method.upper(), path))
    schemes = security_schemes(oidc_discovery_url)
    merged["components"].setdefault("securitySchemes", {}).update(schemes)
    merged["security"] = [{name: []} for name in schemes]
    if not merged["tags"]:
        del merged["tags"]
    return merged


def _problem_response(status: str, description: str, kind: str, detail: str) -> Document:
    phrase = HTTPStatus(int(status)).phrase if status.isdigit() else "Error"
    return {"description": description, "content": {"application/problem+json": {
        "schema": PROBLEM_REF,
        "example": {"type": PROBLEM_BASE + kind, "title": phrase,
                    "status": int(status) if status.isdigit() else 400, "detail": detail},
    }}}


def _document_problems(operation: Document, body_limit: int) -> None:
    """Every error answer of `operation` documented as a problem document, with an example;
    413 with the gateway's limit for the route, whatever the service accepts."""
    responses = operation.setdefault("responses", {})
    public = operation.get("security") == []
    for status in GATEWAY_ERRORS:
        if status == "401" and public:
            continue
        responses.setdefault(status, {"description": HTTPStatus(int(status)).phrase})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            kind, detail = GATEWAY_ERRORS.get(
                status, (HTTPStatus(int(status)).phrase.lower().replace(" ", "-"),
                         HTTPStatus(int(status)).description + ".")
            )
            description = response.get("description") or HTTPStatus(int(status)).phrase
            if status == "413":
                detail = description = detail.format(limit=body_limit)
            responses[status] = _problem_response(status, description, kind, detail)
    responses["default"] = _problem_response(
        "default", "Any other error, as a problem document.", "bad-request",
        "The request cannot be answered.",
    )


class MergedDocument:
    """Fetches each service's document on first need and keeps it; a service that is down
    is left out and asked again on the next request."""

    def __init__(
        self, own: Callable[[], Document], upstreams: Upstreams, body_limit: BodyLimit,
        oidc_discovery_url: str | None = None,
    ) -> None:
        self.own = own
        self.upstreams = upstreams
        self.body_limit = body_limit
        self.oidc_discovery_url = oidc_discovery_url
        self._documents: dict[str, Document] = {}
        self._merged: Document | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self, name: str) -> Document | None:
        try:
            response = await self.upstreams.get(name, "/openapi.json")
            if response.status == 200:
                document = orjson.loads(response.body)
                if isinstance(document, dict):
                    return document
        except (Problem, orjson.JSONDecodeError):
            pass
        log.warning("service API document unavailable", extra={"upstream": name})
        return None

    async def document(self) -> Document:
        if self._merged is None or len(self._documents) < len(self.upstreams.by_name):
            async with self._lock:
                missing = [name for name in self.upstreams.by_name if name not in self._documents]
                fetched = await asyncio.gather(*(self._fetch(name) for name in missing))
                for name, document in zip(missing, fetched, strict=True):
                    if document is not None:
                        self._documents[name] = document
                if self._merged is None or any(document is not None for document in fetched):
                    ordered = {
                        name: self._documents[name] for name in self.upstreams.by_name
                        if name in self._documents
                    }
                    self._merged = merge_documents(
                        self.own(), ordered, self.body_limit, self.oidc_discovery_url
                    )
        return self._merged
