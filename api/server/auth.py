"""Who may change the register: bearer tokens / API keys with roles, from settings.

``LANDREC_API_TOKENS`` holds a JSON object of token -> role, e.g.
``{"3f9c...": "land_officer"}``.  Reading (GET) is public; every other request is
refused before it reaches pygeoapi unless it is one of the read-only processes, or it
carries a token (``Authorization: Bearer <token>`` or ``X-API-Key: <token>``) whose role
is :data:`EDIT_ROLE`.  No token: 401; a token without the role: 403.
"""

from __future__ import annotations

import hmac
import json

from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["EDIT_ROLE", "AuthMiddleware", "AuthSettings", "get_auth_settings", "role_of"]

EDIT_ROLE = "land_officer"
_SAFE = {"GET", "HEAD", "OPTIONS"}


class AuthSettings(BaseSettings):
    """Tokens and roles (env prefix ``LANDREC_``)."""

    model_config = SettingsConfigDict(env_prefix="LANDREC_")

    api_tokens: dict[str, str] = {}


def get_auth_settings() -> AuthSettings:
    """Read the settings now (never at import time)."""
    return AuthSettings()


def role_of(token: str | None, tokens: dict[str, str]) -> str | None:
    """The role of a token, compared in constant time; None when unknown."""
    if not token:
        return None
    found = None
    for known, role in tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = role
    return found


def _token(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return key or None


class AuthMiddleware:
    """Refuse changes from anyone without the edit role (ASGI middleware)."""

    def __init__(self, app: ASGIApp, *, tokens: dict[str, str], public_processes: set[str]) -> None:
        self.app = app
        self.tokens = tokens
        self.public = {f"/processes/{p}/execution" for p in public_processes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE or scope["path"].rstrip("/") in self.public:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        token = _token(headers)
        role = role_of(token, self.tokens)
        if role == EDIT_ROLE:
            scope.setdefault("state", {})["role"] = role
            await self.app(scope, receive, send)
            return
        status, code, msg = ((401, "NotAuthenticated", "this request changes the register: log in as a land officer")
                             if role is None else
                             (403, "Forbidden", f"role {role!r} may not change the register"))
        body = json.dumps({"type": code, "code": code, "description": msg}).encode()
        hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            hdrs.append((b"www-authenticate", b'Bearer realm="landrec"'))
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": body})
