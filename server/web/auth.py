"""Who may call which route: scoped API tokens, /review sessions, and the development mode.

Every route of the app declares what it needs with one dependency (a test and :func:`check_routes`
refuse an app with a route that declares nothing)::

    @router.get("/v1/incidents", dependencies=[Depends(require(Scope.READ))])
    def incidents(...): ...

    @router.post("/v1/proposals/{id}/approve")
    def approve(..., who: Principal = Depends(require(Scope.REVIEW))): ...   # the caller, if needed

    @router.get("/healthz", dependencies=[Depends(public())])      # liveness: no credentials
    @router.post("/slack/events", dependencies=[Depends(slack_signed())])  # the route checks the signature

How a request is authenticated, in order:

1. ``Authorization: Bearer <token>``: the token's SHA-256 digest is looked up among the digests
   of the configured tokens (:meth:`~augur.server.settings.Settings.token_grants`; the tokens
   themselves are not kept), compared with :func:`hmac.compare_digest` against every entry.
   An unknown token is 401, a known one without the scope 403.
2. The ``augur_session`` cookie of a browser signed in on ``/review``: a random session id (never
   the token) kept server-side with the principal and a CSRF token. A state-changing request on a
   session must come from the same origin (``Origin``/``Referer``) and carry the session's CSRF
   token (form field ``csrf_token`` or header ``X-CSRF-Token``), else 403.
3. Development mode (``AUGUR_DEV_MODE=true``): a loopback client without credentials is the
   principal ``dev`` with every scope, unless its request comes from a browser page of another
   origin. Off by default; ``augur serve`` warns at start-up when it is on.

Anything else is 401 with the fix in the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts

from augur.server.errors import ApiError
from augur.server.scopes import ALL_SCOPES, Scope
from augur.server.settings import Settings, is_loopback

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "AuthError",
    "Authenticator",
    "Principal",
    "Requirement",
    "RouteAccess",
    "SessionStore",
    "authenticated",
    "check_routes",
    "public",
    "require",
    "requirement_of",
    "route_table",
    "slack_signed",
]

SESSION_COOKIE = "augur_session"
#: The pre-sign-in CSRF cookie (double submit) the sign-in form is checked against.
CSRF_COOKIE = "augur_csrf"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEV_PRINCIPAL = "dev"

Via = Literal["token", "session", "dev", "public", "slack"]


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    name: str
    scopes: frozenset[Scope]
    via: Via


class AuthError(ApiError):
    """A refused request (401: who are you; 403: not allowed), with the reason and the fix."""

    def __init__(self, status: int, code: str, reason: str, *, html: bool = False,
                 next_path: str = "/review") -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        super().__init__(status, code, reason, headers=headers)
        self.html = html
        self.next_path = next_path

    def response(self) -> JSONResponse:
        """The JSON refusal, its reason as written: augur's own words, scope and caller names.

        Never a request's value (the token sent is not echoed), so it skips the redaction every
        other error goes through, which took the hints themselves for credentials
        (``Bearer <token>``, ``token: use ...``) and sent ``[REDACTED:bearer]`` instead of the fix.
        """
        return JSONResponse({"error": self.code, "reason": self.reason}, self.status, headers=self.headers)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass
class Session:
    """A signed-in browser: who, what they may do, its CSRF token, and when it ends."""

    principal: str
    scopes: frozenset[Scope]
    csrf: str
    expires: float


@dataclass
class SessionStore:
    """Server-side sessions, keyed by the SHA-256 of the session id (the cookie's value).

    In memory: a restart signs everyone out, and with several replicas the load balancer must
    keep a browser on one (or people sign in again). Nothing secret is kept: ids are hashed.
    """

    ttl_seconds: float
    _sessions: dict[bytes, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, principal: Principal, now: float | None = None) -> tuple[str, Session]:
        """A new session for ``principal``: its id (for the cookie) and the session."""
        sid = secrets.token_urlsafe(32)
        at = time.time() if now is None else now
        session = Session(principal.name, principal.scopes, secrets.token_urlsafe(32), at + self.ttl_seconds)
        with self._lock:
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires > at}
            self._sessions[_digest(sid)] = session
        return sid, session

    def get(self, sid: str, now: float | None = None) -> Session | None:
        """The live session with this id, or None."""
        with self._lock:
            session = self._sessions.get(_digest(sid))
        if session is None or session.expires <= (time.time() if now is None else now):
            return None
        return session

    def end(self, sid: str) -> None:
        """Sign out: forget the session."""
        with self._lock:
            self._sessions.pop(_digest(sid), None)


class Authenticator:
    """The configured tokens (as digests), the sessions and the development-mode switch."""

    def __init__(self, grants: Iterable[tuple[str, str, frozenset[Scope]]], *, dev_mode: bool = False,
                 session_ttl_seconds: float = 8 * 3600, public_base_url: str | None = None) -> None:
        self._grants = [(_digest(token), Principal(name, scopes, "token")) for name, token, scopes in grants]
        self.dev_mode = dev_mode
        self.sessions = SessionStore(session_ttl_seconds)
        self.public_base_url = public_base_url

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The authenticator for ``settings`` (every token of :meth:`Settings.token_grants`)."""
        return cls(settings.token_grants(), dev_mode=settings.dev_mode,
                   session_ttl_seconds=settings.session_ttl_seconds, public_base_url=settings.public_base_url)

    @property
    def has_tokens(self) -> bool:
        """Whether any token is configured."""
        return bool(self._grants)

    def principal_for(self, token: str) -> Principal | None:
        """The principal whose token this is (constant time over every configured token), or None."""
        presented = _digest(token)
        found = None
        for digest, principal in self._grants:
            if hmac.compare_digest(presented, digest):
                found = principal
        return found

    def principal_of_session(self, request: Request) -> tuple[Principal, Session] | None:
        """The principal of the request's session cookie, if it names a live session."""
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid) if sid else None
        if session is None:
            return None
        return Principal(session.principal, session.scopes, "session"), session

    def same_origin(self, request: Request) -> bool | None:
        """Whether the request's ``Origin`` (else ``Referer``) is this server; None when neither is sent."""
        claimed = request.headers.get("origin") or request.headers.get("referer")
        if not claimed or claimed == "null":
            return None if not claimed else False
        parts = urlsplit(claimed)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        mine = {f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}".lower()}
        if self.public_base_url:
            base = urlsplit(self.public_base_url)
            mine.add(f"{base.scheme}://{base.netloc}".lower())
        return origin in mine


def authenticator_of(request: Request) -> Authenticator:
    """The app's :class:`Authenticator` (``create_app`` puts it on ``app.state.augur_auth``)."""
    auth: Authenticator = request.app.state.augur_auth
    return auth


def _client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _csrf_token_of(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


Kind = Literal["scope", "authenticated", "public", "slack"]


@dataclass(frozen=True)
class Requirement:
    """What a route needs; use it through :func:`require`, :func:`authenticated`, :func:`public`
    or :func:`slack_signed` as a FastAPI dependency. It answers the :class:`Principal`."""

    kind: Kind
    scope: Scope | None = None
    #: HTML pages: a refusal renders the sign-in page instead of JSON.
    html: bool = False
    reason: str = ""

    async def __call__(self, request: Request) -> Principal:
        if self.kind == "public":
            return Principal("anonymous", frozenset(), "public")
        if self.kind == "slack":
            # The route verifies Slack's signature on the raw body; a bearer token means nothing here.
            return Principal("slack", frozenset(), "slack")
        auth = authenticator_of(request)
        principal = await self._authenticate(request, auth)
        if self.scope is not None and self.scope not in principal.scopes:
            raise AuthError(403, "forbidden",
                            f"{principal.name!r} may not do this: it needs the {self.scope.value!r} scope "
                            f"(it has {', '.join(sorted(principal.scopes)) or 'none'}); grant it in "
                            "AUGUR_API_TOKENS", html=self.html, next_path=request.url.path)
        return principal

    async def _authenticate(self, request: Request, auth: Authenticator) -> Principal:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError(401, "unauthorized", "Authorization must be `Bearer <token>`")
            principal = auth.principal_for(token.strip())
            if principal is None:
                raise AuthError(401, "unauthorized",
                                "unknown bearer token: use a token from AUGUR_API_TOKENS "
                                "(or AUGUR_WEBHOOK_TOKEN / AUGUR_REVIEWER_TOKENS)")
            return principal
        signed_in = auth.principal_of_session(request)
        if signed_in is not None:
            principal, session = signed_in
            if request.method in _UNSAFE:
                if auth.same_origin(request) is False:
                    raise AuthError(403, "cross_origin",
                                    "a form of another site may not act for a signed-in reviewer",
                                    html=self.html)
                if not hmac.compare_digest((await _csrf_token_of(request)).encode(), session.csrf.encode()):
                    raise AuthError(403, "csrf",
                                    "missing or stale CSRF token: reload the page and submit the form again",
                                    html=self.html)
            return principal
        if auth.dev_mode and is_loopback(_client_host(request)) and auth.same_origin(request) is not False:
            return Principal(DEV_PRINCIPAL, ALL_SCOPES, "dev")
        needed = f" with the {self.scope.value!r} scope" if self.scope else ""
        hint = (" (development mode admits loopback clients without a token)" if auth.dev_mode
                else "" if auth.has_tokens else
                "; no token is configured: set AUGUR_API_TOKENS, or AUGUR_DEV_MODE=true on a laptop")
        raise AuthError(401, "unauthorized",
                        f"send `Authorization: Bearer <token>`{needed}{hint}",
                        html=self.html, next_path=request.url.path)


def require(scope: Scope, *, html: bool = False) -> Requirement:
    """The route needs a principal with ``scope`` (``html``: an HTML page, refusals show sign-in)."""
    return Requirement("scope", scope, html=html)


def authenticated() -> Requirement:
    """The route needs any authenticated principal (e.g. signing out)."""
    return Requirement("authenticated")


def public(reason: str) -> Requirement:
    """The route needs no credentials; ``reason`` says why (liveness, the sign-in form itself)."""
    return Requirement("public", reason=reason)


def slack_signed() -> Requirement:
    """The route is authenticated by Slack's request signature, which the route itself verifies."""
    return Requirement("slack")


@dataclass(frozen=True)
class RouteAccess:
    """One route of an app as served (prefixes and router dependencies applied) and what it needs."""

    path: str
    methods: frozenset[str]
    requirement: Requirement | None
    api: bool


def requirement_of(dependant: Any) -> Requirement | None:
    """The :class:`Requirement` among a route's dependencies (searched recursively), or None."""
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Requirement):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def route_table(app: FastAPI) -> list[RouteAccess]:
    """Every route the app serves, with its declared requirement (None: it declares nothing)."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        api = isinstance(ctx.original_route, APIRoute)
        requirement = requirement_of(ctx.dependant) if api else None
        out.append(RouteAccess(str(ctx.path), frozenset(ctx.methods or ()), requirement, api))
    return out


def check_routes(app: FastAPI) -> None:
    """Refuse an app with a route that declares no :class:`Requirement` (say which, and how to fix)."""
    missing = [f"{','.join(sorted(r.methods))} {r.path}" for r in route_table(app) if r.requirement is None]
    if missing:
        raise RuntimeError(
            "routes without an access declaration: " + "; ".join(missing)
            + ": add `dependencies=[Depends(require(Scope.READ))]` (or public()/slack_signed()) "
            "— see augur.server.web.auth"
        )
