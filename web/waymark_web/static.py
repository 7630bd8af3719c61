"""The app's CSS and script, served under content-hashed names: cached for a year, sent
gzip-compressed to every browser that accepts it."""

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
URL_PREFIX = "/static/"
FOREVER = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    compressed: bytes
    media_type: str


class StaticFiles:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.urls: dict[str, str] = {}
        self.files: dict[str, StaticFile] = {}
        for path in sorted(directory.iterdir()):
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            hashed = f"{path.stem}.{digest}{path.suffix}"
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type.endswith("javascript"):
                media_type += "; charset=utf-8"
            self.urls[path.name] = URL_PREFIX + hashed
            self.files[hashed] = StaticFile(body, gzip.compress(body, 9, mtime=0), media_type)

    def url(self, name: str) -> str:
        return self.urls[name]

    def response(self, request: Request, name: str) -> Response | None:
        found = self.files.get(name)
        if found is None:
            return None
        headers = {"cache-control": FOREVER, "vary": "accept-encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["content-encoding"] = "gzip"
            return Response(found.compressed, media_type=found.media_type, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)
