"""A National Society's own OpenID Connect provider, played locally: it signs in whoever it is
told to, and its token endpoint checks the client, the redirect URI and PKCE (S256)."""

import base64
import hashlib
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

CLIENT_ID, CLIENT_SECRET = "waymark-at-nrcs", "provider-client-secret"


class FakeProvider:
    """Signs whoever `next_user` is in, checks PKCE and the client at its token endpoint."""

    def __init__(self, url: str, organization_id: uuid.UUID) -> None:
        self.url = url
        self.organization_id = organization_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.next_user: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.app = FastAPI()
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)

        @self.app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {"issuer": url, "jwks_uri": f"{url}/keys",
                    "authorization_endpoint": f"{url}/authorize", "token_endpoint": f"{url}/token"}

        @self.app.get("/keys")
        async def keys() -> dict[str, Any]:
            return {"keys": [{**public, "kid": "nrcs-1", "use": "sig", "alg": "RS256"}]}

        @self.app.get("/authorize")
        async def authorize(request: Request) -> RedirectResponse:
            query = dict(request.query_params)
            self.authorize_requests.append(query)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"query": query, "user": dict(self.next_user)}
            return RedirectResponse(
                f"{query['redirect_uri']}?code={code}&state={query['state']}", status_code=302)

        @self.app.post("/token")
        async def token(
            grant_type: str = Form(), code: str = Form(), redirect_uri: str = Form(),
            client_id: str = Form(), client_secret: str = Form(), code_verifier: str = Form(),
        ) -> dict[str, Any]:
            issued = self.codes.pop(code, None)  # a code works once
            if issued is None or client_secret != CLIENT_SECRET or client_id != CLIENT_ID:
                raise HTTPException(400, "invalid_grant")
            query = issued["query"]
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if query["code_challenge_method"] != "S256" or challenge != query["code_challenge"]:
                raise HTTPException(400, "invalid_grant: PKCE")
            if redirect_uri != query["redirect_uri"]:
                raise HTTPException(400, "invalid_grant: redirect_uri")
            now = int(time.time())
            claims = {"iss": url, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                      "nonce": query["nonce"], "amr": ["pwd", "mfa"], **issued["user"]}
            return {"id_token": jwt.encode(claims, self.key, algorithm="RS256",
                                           headers={"kid": "nrcs-1"}), "token_type": "Bearer"}

    def provider(self, **options: Any) -> dict[str, Any]:
        """The gateway's setting for this provider, for the organisation it signs people in to."""
        return {"discovery_url": f"{self.url}/.well-known/openid-configuration",
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "organization_id": str(self.organization_id), **options}


async def sign_in_through(provider: FakeProvider, browser: httpx.AsyncClient, name: str,
                          **query: str) -> httpx.Response:
    """The browser's round trip: gateway, provider (who signs the person in), gateway."""
    started = await browser.get(f"/v1/auth/providers/{name}/start", params=query)
    assert started.status_code == 303, started.text
    async with httpx.AsyncClient() as to_provider:
        answered = await to_provider.get(started.headers["location"])
    callback = urlsplit(answered.headers["location"])
    return await browser.get(f"{callback.path}?{callback.query}")
