"""The DApp's web application: live screens for every stakeholder, and the run explorer.

Server-rendered pages (Jinja2 templates shipped in this package, one small
CSS file, no JavaScript, nothing from a CDN) over a Starlette app. Every
page has a JSON twin under ``/api/`` for scripts. The pages only collect
input and show results: the actions are :class:`~sim.dapp.live.LiveWorld`'s,
which calls the protocol's actors, and the explorer reads a run folder with
the report's own readers (:mod:`sim.dapp.explorer`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sim.dapp.explorer import page_number
from sim.dapp.live import DICOM_SOURCES, Action, LiveWorld
from sim.dapp.security import Guard, check_token
from sim.errors import InputError
from sim.protocol.records import (
    DoctorProfile,
    HospitalProfile,
    PatientDetails,
    TestType,
    VisitRecord,
)

Endpoint = Callable[[Request], Awaitable[Response]]
#: Test types the lab screen offers (imaging: the study carries an image).
LAB_TESTS = ("XRAY", "CT", "MRI")


class DApp:
    """The application's state: the live world (or None), the explorer (or None), templates."""

    def __init__(self, live: LiveWorld | None, explorer: Any | None) -> None:
        self.live = live
        self.explorer = explorer
        self.lock = threading.Lock()  # one action at a time: the chain is not thread-safe
        self.templates = Environment(loader=PackageLoader("sim.dapp", "templates"),
                                     autoescape=select_autoescape(["html"]))

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render template ``name`` with the session's token and the mode."""
        html = self.templates.get_template(name).render(
            token=request.state.token, live=self.live is not None,
            explorer=self.explorer is not None, **context)
        return HTMLResponse(html, status_code=status)


def create_app(*, live: LiveWorld | None = None, explorer: Any | None = None,
               hosts: set[str], secret: bytes | None = None) -> Guard:
    """The ASGI app, wrapped in its :class:`~sim.dapp.security.Guard`."""
    if explorer is None and live is not None:
        from sim.dapp.explorer import LiveExplorer

        explorer = LiveExplorer(live)  # the explorer of the live chain
    dapp = DApp(live, explorer)
    routes = [
        Route("/", _wrap(dapp, _home)),
        Route("/live", _wrap(dapp, _live_page)),
        Route("/api/live", _wrap(dapp, _live_json)),
        Route("/api/live/actions", _wrap(dapp, _actions_json)),
        Route("/live/act/{name}", _wrap(dapp, _act), methods=["POST"]),
        Route("/live/action/{number:int}", _wrap(dapp, _action_page)),
        Route("/live/action/{number:int}.png", _wrap(dapp, _action_png)),
        Route("/api/live/action/{number:int}", _wrap(dapp, _action_json)),
        Mount("/static", app=StaticFiles(packages=[("sim.dapp", "static")]), name="static"),
    ]
    if explorer is not None:
        from sim.dapp.explorer import routes as explorer_routes

        routes += explorer_routes(dapp)
    app = Starlette(routes=routes)
    return Guard(app, hosts=hosts, secret=secret or secrets.token_bytes(32))


def _wrap(dapp: DApp, handler: Callable[[DApp, Request], Awaitable[Response]]) -> Endpoint:
    """An endpoint whose InputError becomes a one-line 400 page (or JSON under /api/)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(dapp, request)
        except InputError as exc:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": str(exc)}, status_code=400)
            return dapp.page(request, "error.html", 400, message=str(exc), role="", role_name="")

    return endpoint


async def _home(dapp: DApp, request: Request) -> Response:
    return dapp.page(request, "home.html", role="", role_name="")


def _world(dapp: DApp) -> LiveWorld:
    if dapp.live is None:
        raise InputError("live mode is off: this server shows a run (pmrsim serve without RUN_DIR "
                         "starts a live world)")
    return dapp.live


async def _live_page(dapp: DApp, request: Request) -> Response:
    world = _world(dapp)
    role = request.query_params.get("role", "applicant")
    with dapp.lock:
        if "patient_id" in request.query_params:
            try:
                role = world.patient_role(int(request.query_params["patient_id"]))
            except ValueError:
                raise InputError("patient_id: expected a whole number") from None
        name = world.role_name(role)
        if not name:
            raise InputError(f"role: no role {role!r} in this world")
        return dapp.page(request, "live.html", role=role, role_name=name, roles=world.roles(),
                         state=world.state(role), sources=DICOM_SOURCES, tests=LAB_TESTS,
                         today=dt.datetime.fromtimestamp(world.now, dt.UTC).date().isoformat())


async def _live_json(dapp: DApp, request: Request) -> Response:
    """The live page's JSON twin: the world, and with ``?role=`` what that role's page shows
    (a patient's records and off-chain details)."""
    world = _world(dapp)
    role = request.query_params.get("role", "")
    with dapp.lock:
        if role and not world.role_name(role):
            raise InputError(f"role: no role {role!r} in this world")
        return JSONResponse({"roles": world.roles(), "role": role, **world.state(role)})


async def _actions_json(dapp: DApp, request: Request) -> Response:
    world = _world(dapp)
    page = page_number(request)
    with dapp.lock:
        return JSONResponse({"page": page, "actions": world.actions_page(page)})


async def _action_page(dapp: DApp, request: Request) -> Response:
    world = _world(dapp)
    with dapp.lock:
        action = world.action(request.path_params["number"])
        # the banner names who acted; the back link goes on as the role asked for (after an
        # application, the new hospital's admin), or as the actor when there is no such role
        following = request.query_params.get("role", action.role)
        if not world.role_name(following):
            following = action.role
        return dapp.page(request, "action.html", role=following,
                         role_name=world.role_name(action.role) or action.role,
                         next_name=world.role_name(following) or following,
                         action=action.as_json())


async def _action_json(dapp: DApp, request: Request) -> Response:
    world = _world(dapp)
    with dapp.lock:
        return JSONResponse(world.action(request.path_params["number"]).as_json())


async def _action_png(dapp: DApp, request: Request) -> Response:
    world = _world(dapp)
    with dapp.lock:
        image = world.action(request.path_params["number"]).image
    if image is None:
        raise InputError("this action shows no image")
    return Response(image, media_type="image/png")


def _text(form: Any, key: str, *, required: bool = True) -> str:
    value = str(form.get(key, "")).strip()
    if required and not value:
        raise InputError(f"{key}: required")
    if len(value) > 200:
        raise InputError(f"{key}: at most 200 characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InputError(f"{key}: no control characters (one line of text)")
    return value


#: Largest whole number a form field takes: IDs are far below it, and a value past the
#: contracts' uint256 would otherwise fail in the ABI encoder as a server error.
MAX_INT = 2**64 - 1


def _int(form: Any, key: str) -> int:
    """Field ``key`` as a whole number from 0 to :data:`MAX_INT`, written in ASCII digits
    (Python's ``int`` would also take a sign, underscores and non-ASCII digits)."""
    text = _text(form, key)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_INT:
        raise InputError(f"{key}: expected a whole number from 0 to {MAX_INT}")
    return int(text)


def _float(form: Any, key: str) -> float:
    try:
        value = float(_text(form, key))
    except ValueError:
        raise InputError(f"{key}: expected a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{key}: expected a finite number")
    return value


def _date(form: Any, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_text(form, key))
    except ValueError:
        raise InputError(f"{key}: expected a date as YYYY-MM-DD") from None


def _acting(role: str, kind: str) -> str:
    """The wallet key of ``role`` when it is of ``kind`` ("doctor:dr-rao" -> "dr-rao")."""
    prefix, _, key = role.partition(":")
    if prefix != kind or not key:
        raise InputError(f"role: this action is for a {kind}, not {role!r}")
    return key


def _dispatch(world: LiveWorld, name: str, role: str, form: Any) -> tuple[Action, str]:
    """Run the action ``name`` for ``role``; return it and the role to show next."""
    if name == "apply":
        if role != "applicant":
            raise InputError("role: hospitals apply as a new hospital (applicant)")
        label, action = world.apply(HospitalProfile(
            _text(form, "gov_reg_id"), _text(form, "name"), _text(form, "location"),
            _text(form, "specialization"), _text(form, "contact")))
        return action, f"hospital:{label}" if action.outcome and action.outcome.ok else role
    if name == "verify":
        if role != "regulator":
            raise InputError("role: only the regulator's wallet verifies here")
        return world.verify(_text(form, "hospital")), role
    if name == "staff":
        return world.add_staff(_acting(role, "hospital"), _text(form, "kind")), role
    if name == "onboard":
        return world.onboard(_acting(role, "hospital"), DoctorProfile(
            _text(form, "registration_number"), _text(form, "name"),
            _text(form, "specialization"), _text(form, "contact"))), role
    if name == "register":
        age = _int(form, "age")
        if age > 150:
            raise InputError("age: expected a whole number of years from 0 to 150")
        weight, height = _float(form, "weight_kg"), _float(form, "height_cm")
        if not 0 < weight <= 700:
            raise InputError("weight_kg: expected kilograms above 0 and at most 700")
        if not 0 < height <= 300:
            raise InputError("height_cm: expected centimetres above 0 and at most 300")
        return world.register_patient(_acting(role, "desk"), PatientDetails(
            _text(form, "name"), age, _text(form, "gender"),
            weight, height, _text(form, "address"),
            _text(form, "phone"), _text(form, "email"),
            _text(form, "attendant_name", required=False),
            _text(form, "attendant_phone", required=False),
            _text(form, "attendant_relation", required=False))), role
    if name == "visit":
        return world.visit(_acting(role, "doctor"), _int(form, "patient_id"), _date(form, "visit"),
                           VisitRecord(_text(form, "present_illness"),
                                       _text(form, "past_illness", required=False),
                                       _text(form, "diagnosis"), _text(form, "treatment"),
                                       _text(form, "insurance", required=False))), role
    if name == "upload":
        test = _text(form, "test")
        if test not in LAB_TESTS:
            raise InputError(f"test: expected one of {', '.join(LAB_TESTS)}")
        return world.upload(_acting(role, "lab"), _int(form, "pmr_id"), TestType[test],
                            _text(form, "source"), _text(form, "reason"),
                            _text(form, "observations")), role
    if name == "grant":
        return world.grant(_acting(role, "patient"), _text(form, "doctor"), _int(form, "pmr_id"),
                           _float(form, "days")), role
    if name == "revoke":
        return world.revoke(_acting(role, "patient"), _text(form, "doctor"),
                            _int(form, "pmr_id")), role
    if name == "read":
        return world.read(_acting(role, "doctor"), _int(form, "pmr_id")), role
    if name == "emergency":
        return world.emergency(_acting(role, "doctor"), _int(form, "patient_id"),
                               _int(form, "reason_code")), role
    if name == "close":
        return world.close_emergency(role, _text(form, "doctor")), role
    if name == "review":
        verdict = _text(form, "verdict")
        if verdict not in ("justified", "unjustified"):
            raise InputError("verdict: expected justified or unjustified")
        return world.review(role, _text(form, "doctor"), _int(form, "opening"),
                            verdict == "justified"), role
    if name == "status":
        if role != "regulator":
            raise InputError("role: only the regulator suspends or reinstates")
        return world.set_status(_text(form, "target"), _text(form, "status")), role
    if name == "refer":
        return world.refer(_acting(role, "doctor"), _int(form, "pmr_id"),
                           _text(form, "hospital")), role
    if name == "bind":
        return world.bind_device(_acting(role, "desk"), _int(form, "patient_id"),
                                 _text(form, "device_name")), role
    if name == "accept":
        return world.accept_device(_acting(role, "patient"), _text(form, "device")), role
    if name == "unbind":
        return world.unbind_device(role, _text(form, "device")), role
    if name == "anchor":
        return world.anchor(_acting(role, "device"), _int(form, "readings"),
                            _float(form, "minutes")), role
    if name == "clock":
        return world.advance(_float(form, "days"), role), role
    raise InputError(f"action: no action {name!r}")


async def _act(dapp: DApp, request: Request) -> Response:
    world = _world(dapp)
    form = await request.form()
    if not await check_token(request, str(form.get("token", "")) or None):
        return Response("missing or wrong session token", status_code=403)
    role = _text(form, "role")
    with dapp.lock:
        if not world.role_name(role):
            raise InputError(f"role: no role {role!r} in this world")
        action, next_role = _dispatch(world, request.path_params["name"], role, form)
    return RedirectResponse(f"/live/action/{action.number}?role={next_role}", status_code=303)

