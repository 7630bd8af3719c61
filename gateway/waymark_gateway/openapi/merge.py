"""One API document for the whole network: the gateway's own paths plus every service's `/v1`
paths, with clashing component names prefixed by the service's name."""

import asyncio
import copy
import logging
from collections.abc import Callable
from typing import Any

import orjson

from waymark_gateway.proxy.upstreams import Upstreams
from waymark_kernel.problems import Problem

log = logging.getLogger("waymark.gateway.openapi")
Document = dict[str, Any]
COMPONENTS = "#/components/"
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "clientCredentials": {
        "type": "oauth2",
        "flows": {"clientCredentials": {"tokenUrl": "/v1/auth/token", "scopes": {}}},
    },
}
DESCRIPTION = (
    "The Waymark referral network. Get a token with your client id and secret at "
    "`POST /v1/auth/token` (OAuth 2.0 client credentials), then send it on every call as "
    "`Authorization: Bearer <token>`. Errors are RFC 9457 problem documents."
)


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


def merge_documents(own: Document, services: dict[str, Document]) -> Document:
    merged: Document = {
        "openapi": own["openapi"],
        "info": {**own["info"], "description": DESCRIPTION},
        "paths": dict(own.get("paths", {})),
        "components": copy.deepcopy(own.get("components", {})),
        "tags": list(own.get("tags", [])),
    }
    for name, document in services.items():
        document = _without_clashes(document, merged["components"], name.title())
        for path, item in document.get("paths", {}).items():
            if path.startswith("/v1/") and path not in merged["paths"]:
                merged["paths"][path] = item
        for section, entries in document["components"].items():
            merged["components"].setdefault(section, {}).update(entries)
        known_tags = {tag["name"] for tag in merged["tags"]}
        merged["tags"] += [tag for tag in document.get("tags", []) if tag["name"] not in known_tags]
    merged["components"].setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    merged["security"] = [{"bearerAuth": []}, {"clientCredentials": []}]
    if not merged["tags"]:
        del merged["tags"]
    return merged


class MergedDocument:
    """Fetches each service's document on first need and keeps it; a service that is down
    is left out and asked again on the next request."""

    def __init__(self, own: Callable[[], Document], upstreams: Upstreams) -> None:
        self.own = own
        self.upstreams = upstreams
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
                    self._merged = merge_documents(self.own(), ordered)
        return self._merged
