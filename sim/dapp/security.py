"""The DApp's guard: the served Host only, a session per browser, same-origin writes.

The server signs transactions with every role's simulated wallet, so a page
of another site must not be able to make it act (cross-site request
forgery) and a DNS-rebinding page must not be able to read it. Hence:

* a request whose ``Host`` header is not one of the names the server is
  served under is refused (400), whatever its method;
* each browser gets a session cookie (random, ``HttpOnly``,
  ``SameSite=Strict``); the per-session token is an HMAC of it under the
  server's secret, put into every form of the pages;
* a state-changing request (any method but GET, HEAD, OPTIONS) needs an
  ``Origin`` (or, without one, a ``Referer``) of the served origin, and the
  session's token (form field ``token`` or header ``X-PMRSIM-Token``),
  compared in constant time; otherwise 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "pmrsim_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_FIELD = "token"
TOKEN_HEADER = "x-pmrsim-token"


class Guard:
    """ASGI middleware enforcing the served Host, the session cookie and same-origin writes."""

    def __init__(self, app: ASGIApp, *, hosts: set[str], secret: bytes) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.secret = secret

    def token(self, session: str) -> str:
        """The per-session token of ``session``."""
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request; pass it on with ``scope["state"]`` holding session and token."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            await PlainTextResponse("Host header not served here", 400)(scope, receive, send)
            return
        session = _cookie(headers.get("cookie", ""))
        fresh = not session or len(session) != 43
        if fresh:
            session = secrets.token_urlsafe(32)
        state = scope.setdefault("state", {})
        state["session"] = session
        state["token"] = self.token(session)
        if scope["method"] not in SAFE_METHODS and not _same_origin(headers, host):
            await PlainTextResponse("cross-origin request refused", 403)(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                cookie = f"{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict"
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(header: str) -> str:
    """The session cookie's value in a Cookie header ("" when absent)."""
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""


def _same_origin(headers: Headers, host: str) -> bool:
    """True when Origin (or, lacking it, Referer) names http://<served host>."""
    origin = headers.get("origin")
    if origin is not None:
        return origin.lower() == f"http://{host}"
    referer = headers.get("referer")
    if referer is None:
        return False
    parts = urlsplit(referer)
    return parts.scheme == "http" and parts.netloc.lower() == host


async def check_token(request: Request, submitted: str | None) -> bool:
    """True when ``submitted`` (or the token header) is the request's session token."""
    expected = request.state.token
    given = submitted or request.headers.get(TOKEN_HEADER, "")
    return hmac.compare_digest(str(given).encode(), str(expected).encode())


def served_hosts(host: str, port: int, names: tuple[str, ...] = ()) -> set[str]:
    """The Host header values a server bound to ``host:port`` answers: the bound address,
    the loopback names, and ``names`` (what remote clients call the machine, given with
    ``--server-name``; a wildcard address is never a name clients send)."""
    served = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    bound = [] if host in ("0.0.0.0", "::", "[::]") else [host]
    for name in [*bound, *names]:
        name = name.lower()
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        served.add(f"{name}:{port}")
        if port == 80:
            served.add(name)
    if port == 80:
        served |= {"127.0.0.1", "localhost", "[::1]"}
    return served
