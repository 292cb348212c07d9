"""The guard: served Host only, per-session token, same-origin writes."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from sim.dapp.app import create_app
from sim.dapp.live import LiveWorld
from sim.dapp.security import served_hosts
from tests.dapp.conftest import ORIGIN, Browser


def _count(browser: Browser) -> int:
    return browser.client.get("/api/live").json()["actions_total"]


def _apply(browser: Browser, headers: dict[str, str], token: str | None) -> int:
    data = {"role": "applicant", "name": "Rogue Care", "gov_reg_id": "X-1", "location": "x",
            "specialization": "x", "contact": "x"}
    if token is not None:
        data["token"] = token
    return browser.client.post("/live/act/apply", data=data, headers=headers,
                               follow_redirects=False).status_code


def test_foreign_host_header_refused(browser: Browser) -> None:
    """A Host other than the served name (DNS rebinding) is refused, even for GET."""
    response = browser.client.get("/live", headers={"Host": "evil.example:8000"})
    assert response.status_code == 400 and "Host header" in response.text
    assert browser.client.get("/api/live", headers={"Host": "127.0.0.1:8001"}).status_code == 400


def test_cross_origin_post_refused(browser: Browser) -> None:
    """A write from another origin, or with neither Origin nor Referer, changes nothing (403)."""
    token = browser.token()
    before = _count(browser)
    assert _apply(browser, {"Origin": "http://evil.example"}, token) == 403
    assert _apply(browser, {"Referer": "http://evil.example/live"}, token) == 403
    assert _apply(browser, {"Origin": "https://testserver"}, token) == 403
    assert _apply(browser, {}, token) == 403
    assert _count(browser) == before


def test_token_required(browser: Browser) -> None:
    """A same-origin write without the session's token, or with another's, is refused (403)."""
    before = _count(browser)
    assert _apply(browser, {"Origin": ORIGIN}, None) == 403
    assert _apply(browser, {"Origin": ORIGIN}, "0" * 64) == 403
    assert _count(browser) == before
    assert _apply(browser, {"Referer": ORIGIN + "/live"}, browser.token()) == 303
    assert _count(browser) == before + 1


def test_token_is_per_session(world: LiveWorld) -> None:
    """Two browsers get different tokens; one's token does not work in the other's session."""
    app = create_app(live=world, hosts={"testserver"})
    with TestClient(app) as a, TestClient(app) as b:
        token_a = Browser(a).token()
        assert token_a != Browser(b).token()
        response = b.post("/live/act/clock", data={"token": token_a, "role": "regulator", "days": "1"},
                          headers={"Origin": ORIGIN}, follow_redirects=False)
        assert response.status_code == 403


def test_session_cookie_is_strict(world: LiveWorld) -> None:
    """The session cookie is HttpOnly and SameSite=Strict."""
    with TestClient(create_app(live=world, hosts={"testserver"})) as client:
        cookie = client.get("/").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_served_hosts_are_the_bound_names() -> None:
    """The names a loopback server answers: its address and port, and the loopback aliases."""
    names = served_hosts("127.0.0.1", 8000)
    assert "127.0.0.1:8000" in names and "localhost:8000" in names
    assert "127.0.0.1:8001" not in names and not any(re.search("evil", n) for n in names)


def test_user_text_is_escaped(browser: Browser) -> None:
    """Text a user typed is shown escaped: a script in a hospital's name never runs."""
    page = browser.act("apply", "applicant", name="<script>alert(1)</script>", gov_reg_id="X-9",
                       location="x", specialization="x", contact="x")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<script>" not in browser.client.get("/live", params={"role": "regulator"}).text


def test_wildcard_bind_answers_only_its_server_names() -> None:
    """A server bound to 0.0.0.0 answers the names given with --server-name (and loopback),
    never the wildcard itself nor any other Host (DNS rebinding)."""
    names = served_hosts("0.0.0.0", 8000, ("PMR.lan", "fe80::1"))
    assert {"pmr.lan:8000", "[fe80::1]:8000", "127.0.0.1:8000"} <= names
    assert "0.0.0.0:8000" not in names
    app = create_app(live=None, explorer=None, hosts=names)
    with TestClient(app, base_url="http://pmr.lan:8000") as client:
        assert client.get("/").status_code == 200
    with TestClient(app, base_url="http://rebound.example:8000") as client:
        assert client.get("/").status_code == 400
