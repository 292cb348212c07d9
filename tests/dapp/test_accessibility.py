"""Accessibility of the DApp in a real headless Chromium: axe-core on every screen, and the keyboard.

axe-core (npm, pinned in scripts/node-tools/package.json, installed into .tools/ by
scripts/install-tools.sh; nothing from a CDN, and nothing the package ships) is injected into
each page by the test and run with its default rules (WCAG 2.x A and AA, and best practices)
and WCAG 2.2's target size: any violation fails, naming the rule, its impact and the nodes.
Then one use case is driven
with the keyboard only (Tab, Shift-Tab, Enter, Space, arrow keys; no click): the skip link is
the first Tab stop and moves focus to <main>, every Tab stop shows a visible focus outline, a
role is picked, a form filled and submitted with Enter, and the action page shows the result.
At 320 px wide the live pages reflow (nothing but a data table scrolls sideways).
Without Chromium and chromedriver this module skips, except under CI=true; without axe-core it
skips, except under PMRSIM_REQUIRE_TOOLS=1 (both fail in CI).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.dapp.conftest import SHOTS, Browser, need_browser, play_story, serve, wait_gone
from tests.tools import require

need_browser()

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

#: The roles of the live page after the paper's story and a device's binding.
ROLES = ("applicant", "regulator", "hospital:city-general-hospital", "desk:city-general-hospital",
         "lab:city-general-hospital", "doctor:dr-anitha-rao", "device:pulse-oximeter",
         "patient:patient-1")

#: Runs axe in the page and hands back its violations, reduced to what a failure must name.
#: axe's default rules (WCAG 2.0-2.2 A and AA, best practices), plus target-size (WCAG 2.2 AA
#: 2.5.8: controls at least 24 px, or spaced apart), which axe leaves off by default. Its AAA
#: rules (enhanced contrast, identical link purpose, meta refresh) stay off: the pages aim at AA.
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {rules: {'target-size': {enabled: true}}, resultTypes: ['violations']}).then(
  r => done({violations: r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))}))}),
  e => done({error: String(e)}));
"""

#: Whether the focused element draws a focus indicator (an outline, as dapp.css sets).
FOCUS = """
const el = document.activeElement;
const style = getComputedStyle(el);
return {id: el.id, tag: el.tagName, visible: el.matches(':focus-visible'),
        outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
"""


@pytest.fixture(scope="module")
def live() -> Iterator[dict[str, Any]]:
    """A ``pmrsim serve`` live world after the paper's story, a device bound to the patient,
    and a refused read."""
    proc, base = serve()
    try:
        with httpx2.Client(base_url=base, timeout=120) as client:
            b = Browser(client, origin=base)
            story = play_story(b)
            b.act("bind", "desk:city-general-hospital", patient_id=story["patient_id"],
                  device_name="Pulse Oximeter")
            assert "Mined: succeeded" in b.act("accept", "patient:patient-1", device="pulse-oximeter")
            page = b.act("read", "doctor:dr-vikram-iyer", pmr_id=story["pmr_id"])
            assert "Refused by the contract" in page
            found = re.search(r"<h1>Action (\d+)", page)
            assert found
            yield {"base": base, **story, "refused": int(found.group(1))}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def explorer(quickstart_run: Path) -> Iterator[dict[str, Any]]:
    """A ``pmrsim serve RUN_DIR`` explorer of a finished quickstart run."""
    lines = [json.loads(x) for x in (quickstart_run / "trace.jsonl").read_text().splitlines()]
    patient = next(x["patient"] for x in lines if x["kind"] == "access")
    calls = [x for x in lines if x["kind"] == "tx" and x["op"] != "deploy"]
    proc, base = serve(str(quickstart_run))
    try:
        actors = httpx2.get(base + "/explorer/actors?format=json", timeout=60).json()["rows"]
        yield {"base": base, "patient": patient, "tx": calls[0]["hash"], "block": calls[0]["block"],
               "reverted": next(x["hash"] for x in calls if x["status"] == 0),
               "actor": actors[0]["label"]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Axe:
    """Injects axe-core into the driver's page and fails on any violation."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.source = require("axe").read_text()
        driver.set_script_timeout(120)

    def check(self, url: str, status: str = "") -> str:
        """Open ``url`` (whose <main> says ``status``), run axe; fail naming each violation's
        nodes. Returns the page's title."""
        d = self.driver
        d.get(url)
        if status:
            assert status in d.find_element(By.TAG_NAME, "main").text, url
        self.run(url)
        return str(d.title)

    def run(self, url: str) -> None:
        """Run axe on the page as it is now; fail naming each violation's rule, impact, nodes."""
        d = self.driver
        d.execute_script(self.source)
        result = d.execute_async_script(RUN_AXE)
        assert "error" not in result, f"{url}: axe failed: {result.get('error')}"
        problems = [f"{v['id']} ({v['impact']}): {v['help']}; "
                    + "; ".join(f"{n['target']}: {n['summary']}" for n in v["nodes"])
                    for v in result["violations"]]
        assert problems == [], f"{url}:\n" + "\n".join(problems)


def test_axe_finds_no_violation_on_any_live_screen(driver: Any, live: dict[str, Any]) -> None:
    """Home, the live page as each role (each titled with its role), a mined action with events
    and an image, a refused one with its revert reason, the error page, and the explorer of the
    live chain pass every axe rule."""
    axe, base = Axe(driver), live["base"]
    axe.check(base + "/", "Live world")
    titles = {axe.check(f"{base}/live?role={role}", "Acting as") for role in ROLES}
    assert len(titles) == len(ROLES), titles
    axe.check(f"{base}/live/action/{live['upload']}", "Mined: succeeded")
    assert driver.find_element(By.ID, "study-image").get_attribute("alt")
    axe.check(f"{base}/live/action/{live['refused']}", "Revert reason")
    axe.check(f"{base}/live?role=nobody", "no role")
    axe.check(base + "/explorer", "live world's chain")
    axe.check(f"{base}/explorer/patient/{live['patient_id']}", "timeline")


def test_axe_check_fails_on_a_broken_page(driver: Any, live: dict[str, Any]) -> None:
    """The check is not vacuous: an unlabelled field and a skipped heading level put into a
    real page fail it, naming the rules, their impact and the nodes."""
    axe = Axe(driver)
    axe.check(live["base"] + "/live")
    driver.execute_script("document.querySelector('main').insertAdjacentHTML('beforeend', "
                          "'<input id=\"bare\" name=\"bare\"><h4>deep</h4>')")
    with pytest.raises(AssertionError) as failed:
        axe.run("the altered page")
    assert "label (critical)" in str(failed.value) and "#bare" in str(failed.value)
    assert "heading-order (moderate)" in str(failed.value)


def test_axe_finds_no_violation_on_any_explorer_screen(driver: Any,
                                                       explorer: dict[str, Any]) -> None:
    """The explorer's home, overview, blocks, a block, transactions, a mined and a reverted
    transaction, a patient's timeline, actors, an actor, storage, search results, an empty
    search and its error page pass every axe rule."""
    axe, base, patient = Axe(driver), explorer["base"], explorer["patient"]
    axe.check(base + "/", "Explorer")
    axe.check(base + "/explorer", "Attack matrix")
    axe.check(base + "/explorer/blocks", "Blocks")
    axe.check(f"{base}/explorer/block/{explorer['block']}", explorer["tx"])
    axe.check(base + "/explorer/txs", "Transactions")
    axe.check(f"{base}/explorer/tx/{explorer['tx']}", "Decoded call")
    axe.check(f"{base}/explorer/tx/{explorer['reverted']}", "Decoded call")
    axe.check(f"{base}/explorer/patient/{patient}", "timeline")
    axe.check(base + "/explorer/actors", "Actors")
    axe.check(f"{base}/explorer/actor/{explorer['actor']}", explorer["actor"])
    axe.check(base + "/explorer/storage", "Nodes")
    axe.check(f"{base}/explorer/search?q={patient}", "Search")
    axe.check(f"{base}/explorer/search?q={explorer['tx']}", "Search")
    axe.check(f"{base}/explorer/search?q=0x{'ab' * 32}", "Nothing found")
    axe.check(f"{base}/explorer/tx/0x00", "Cannot do that")


#: How far the page scrolls sideways with its data tables hidden (they may scroll: WCAG 1.4.10
#: exempts content that needs two dimensions).
OVERFLOW = """
const tables = [...document.querySelectorAll('table')];
tables.forEach(t => { t.style.display = 'none'; });
const over = document.documentElement.scrollWidth - document.documentElement.clientWidth;
tables.forEach(t => { t.style.display = ''; });
return over;
"""


def test_live_pages_reflow_at_320_px(driver: Any, live: dict[str, Any]) -> None:
    """At 320 CSS px wide (400 % zoom of 1280) no live page but its data tables scrolls sideways:
    forms stack, long hashes and JSON wrap."""
    base = live["base"]
    size = driver.get_window_size()
    driver.set_window_size(320, 900)
    try:
        for path in ("/", *(f"/live?role={role}" for role in ROLES), f"/live/action/{live['upload']}",
                     f"/live/action/{live['refused']}", "/live?role=nobody", "/explorer",
                     f"/explorer/patient/{live['patient_id']}"):
            driver.get(base + path)
            assert driver.execute_script("return document.documentElement.clientWidth") <= 320
            assert driver.execute_script(OVERFLOW) <= 0, f"{path} scrolls sideways at 320 px"
    finally:
        driver.set_window_size(size["width"], size["height"])


class Keyboard:
    """Presses keys in the page and checks that focus stays visible."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def press(self, *keys: str) -> None:
        """Send ``keys`` to whatever has focus (no element is clicked)."""
        ActionChains(self.driver).send_keys(*keys).perform()

    def shift_tab(self) -> None:
        """Press Shift-Tab: focus moves one stop back."""
        ActionChains(self.driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()

    def focused(self) -> dict[str, Any]:
        """The focused element's id and tag, and whether its focus outline is drawn."""
        info: dict[str, Any] = self.driver.execute_script(FOCUS)
        assert info["visible"] and info["outline"] != "none" and info["width"] >= 2, \
            f"focus not visible on {info}"
        return info

    def tab_to(self, element_id: str, limit: int = 40) -> None:
        """Press Tab until ``element_id`` has focus, every stop on the way showing its focus."""
        for _ in range(limit):
            self.press(Keys.TAB)
            if self.focused()["id"] == element_id:
                return
        raise AssertionError(f"{element_id} not reached in {limit} Tab presses")

    def choose(self, value: str, limit: int = 40) -> None:
        """In the focused <select>, press Down (from the top: Home) until ``value`` is chosen."""
        self.press(Keys.HOME)
        for _ in range(limit):
            if self.driver.execute_script("return document.activeElement.value") == value:
                return
            self.press(Keys.ARROW_DOWN)
        raise AssertionError(f"option {value} not reached with the arrow keys")

    def submit(self, *keys: str) -> None:
        """Press ``keys`` (Enter or Space on a control) and wait for the next page."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.press(*keys)
        wait_gone(self.driver, old)


def test_keyboard_only_patient_grants_access(driver: Any, live: dict[str, Any]) -> None:
    """With the keyboard only: the skip link comes first and focuses <main>; a role is picked
    with the arrow keys and Space; the grant form is filled and sent with Enter; focus shows."""
    d, keys, shots = driver, Keyboard(driver), SHOTS / "keyboard"
    shots.mkdir(parents=True, exist_ok=True)
    d.get(live["base"] + "/live")
    keys.press(Keys.TAB)
    assert keys.focused()["id"] == "skip"
    assert d.switch_to.active_element.text == "Skip to main content"
    d.save_screenshot(str(shots / "01-skip-link.png"))
    keys.press(Keys.TAB)  # the header's first link, outlined on the dark header too
    assert keys.focused()["tag"] == "A" and d.switch_to.active_element.text == "pmrsim DApp"
    keys.shift_tab()
    assert keys.focused()["id"] == "skip"
    keys.press(Keys.ENTER)
    assert d.execute_script("return document.activeElement.tagName") == "MAIN"
    keys.tab_to("role-picker")  # the first control inside <main>
    keys.choose("patient:patient-1")
    keys.press(Keys.TAB)
    assert keys.focused()["id"] == "act-as"
    keys.submit(Keys.SPACE)
    assert d.find_element(By.ID, "acting-role").text.startswith("patient 85437")
    keys.tab_to("f-doctor")
    keys.choose("dr-vikram-iyer")
    keys.press(Keys.TAB)
    assert keys.focused()["id"] == "f-pmr_id"
    keys.shift_tab()
    assert keys.focused()["id"] == "f-doctor"
    assert d.switch_to.active_element.get_attribute("value") == "dr-vikram-iyer"
    keys.press(Keys.TAB, str(live["pmr_id"]), Keys.TAB)
    assert keys.focused()["id"] == "f-days"
    keys.press(Keys.BACKSPACE, "3")
    d.save_screenshot(str(shots / "02-grant-form.png"))
    now = dt.datetime.strptime(d.find_element(By.ID, "clock").text, "%d %b %Y %H:%M UTC")
    keys.submit(Keys.ENTER)
    until = (now + dt.timedelta(days=3)).strftime("%d %b %Y %H:%M UTC")
    assert d.find_element(By.TAG_NAME, "h1").text.endswith(
        f"patient:patient-1 grants Dr. Vikram Iyer PMR {live['pmr_id']} until {until}")
    assert "Mined: succeeded" in d.find_element(By.ID, "outcome").text
    assert "AccessGranted" in d.page_source
    keys.tab_to("back")
    d.save_screenshot(str(shots / "03-action-page.png"))
    keys.submit(Keys.ENTER)
    assert d.find_element(By.ID, "acting-role").text.startswith("patient 85437")
