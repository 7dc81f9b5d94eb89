"""The review console end to end: real Kafka, a real gate worker, headless Chromium.

A reviewer opens the queue, sees the held event with its findings, approves with a key
made in the browser (non-extractable WebCrypto Ed25519); a second reviewer approves with
a Python-signed decision; the release appears on ``workflow.events.approved``. The
event carries script, ``javascript:``, event-handler and bidi payloads in its fields:
they render inert (``window.__pwned`` is never set). Keyboard only (Tab to the row,
Enter, Tab to Approve/Reject) and a 390x844 phone viewport (no horizontal scroll) are
checked on the way; the detail page updates live (a vote, the release), lists the
run's earlier step and the audit records, and links to the lifecycle trace. Signatures
cross both ways (browser → Python registry, Python → ``crypto.subtle.verify``); POSTs
without the CSRF token or without login are refused.

Screenshots of the queue and the detail view go to ``docs/`` only with
``SLUICE_SCREENSHOTS=1`` (CI does not rewrite them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.codec import default_codec
from sluice.gate.signatures import build_decision, public_key_to_b64, sign_decision
from sluice.kafka import create_topics
from sluice.tools.bench.events import make_events
from tests.helpers import REPO, WorkerProcess, collect, produce, settings_from_env, topics_for

pytestmark = pytest.mark.integration

from selenium import webdriver  # noqa: E402 (the dev extra installs it)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Never skipped: a missing browser is a missing install step (.ci/install-system-deps.sh
# installs Debian's chromium and chromium-driver), so the test fails and says so.
_MISSING = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    if _MISSING:
        pytest.fail(f"not installed: {', '.join(_MISSING)} (run .ci/install-system-deps.sh)")


POLICY = """
rules:
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {roles: [release-manager], approvals: 2, ttl: 1h, on_expiry: reject}
default:
  allow: {}
"""

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
LINK = "javascript:window.__pwned=1"
BIDI = "invoice\u202egpj.exe \u200bzero\u2066width\u2069"
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--window-size=1280,800",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


class ConsoleProcess:
    """``sluice console --port 0`` as a subprocess; its login URL read from stdout."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sluice", "console", "--port", "0"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"sluice console: (http://\S+)", log.read_text(errors="replace"))
            if m:
                self.login_url = m.group(1)
                self.base = self.login_url.split("?")[0].rstrip("/")
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"console did not start: {log.read_text(errors='replace')}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _wait(driver: Any, what: Any, timeout: float = 60) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(what)


def _registry(entries: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "reviewers": [
            {
                "id": rid,
                "roles": ["release-manager"],
                "keys": [{"id": key_id, "public_key": pub, "revoked": False}],
            }
            for rid, (key_id, pub) in entries.items()
        ]
    }


async def _post(url: str, headers: dict[str, str]) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(url, data=b"{}", headers=headers) as r:
        return r.status


async def test_console_review_to_release(
    sluice_env: dict[str, str], tmp_path: Path, browser: Any
) -> None:
    registry_path = tmp_path / "reviewers.yaml"
    bob = Ed25519PrivateKey.generate()
    bob_entry = ("bob-k1", public_key_to_b64(bob.public_key()))
    dave = Ed25519PrivateKey.generate()  # the event's principal: may not approve it
    dave_entry = ("dave-k1", public_key_to_b64(dave.public_key()))
    registry_path.write_text(yaml.safe_dump(_registry({"bob": bob_entry})))
    (tmp_path / "policy.yaml").write_text(POLICY)
    env = {
        **sluice_env,
        "SLUICE_REVIEWERS_FILE": str(registry_path),
        "SLUICE_POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    settings = settings_from_env(env)
    topics = topics_for(env)
    await create_topics(settings)
    console = ConsoleProcess(env, tmp_path / "console.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        # Log in with the printed URL; the token is swapped for an HttpOnly cookie.
        browser.get(console.login_url)
        _wait(browser, lambda d: d.find_elements(By.ID, "queue"))
        assert "token=" not in browser.current_url
        assert browser.execute_script("return document.cookie") == "", "cookie is HttpOnly"
        assert "queue is clear" in browser.find_element(By.ID, "queue").text

        # A key made in this browser; its public half goes into the registry.
        browser.get(console.base + "/keys")
        browser.find_element(By.ID, "reviewer-id").send_keys("alice")
        browser.find_element(By.ID, "key-id").send_keys("alice-k1")
        browser.find_element(By.ID, "create-key").click()
        pub = _wait(browser, lambda d: d.find_elements(By.ID, "public-key"))[0].text
        assert len(base64.b64decode(pub)) == 32
        assert "alice-k1" in browser.find_element(By.ID, "registry-entry").text
        registry_path.write_text(
            yaml.safe_dump(
                _registry({"alice": ("alice-k1", pub), "bob": bob_entry, "dave": dave_entry})
            )
        )

        # Python signature → crypto.subtle.verify in the browser (and a tampered one fails).
        d = build_decision(
            event_id="e",
            verdict="APPROVE",
            reviewer_id="bob",
            key_id="bob-k1",
            content_hash="h",
            reason="ünïcode ✓",
        )
        sig = base64.b64encode(sign_decision(d, bob)).decode()
        plain = {k: v for k, v in d.items() if k != "signature"}
        verify = (
            "const [d, s, p, done] = arguments;"
            "window.sluiceConsole.verifyDecision(d, s, p).then(done, e => done(String(e)));"
        )
        assert browser.execute_async_script(verify, plain, sig, bob_entry[1]) is True
        tampered = {**plain, "reason": "other"}
        assert browser.execute_async_script(verify, tampered, sig, bob_entry[1]) is False

        # A held event with hostile fields and a secret the intake redacts.
        worker.start()
        event = make_events(1, held_share=1.0, seed=5)[0]
        event.update(
            kind="CODE_PUBLISH",
            data_classification="INTERNAL",
            content=f"diff --git a/x b/x\n+token = {TOKEN}\n+{XSS}\n+{BIDI}\n+see {LINK}",
            resource=LINK,
            step=XSS,
            arguments={"branch": XSS, "link": LINK},
            attributes={"note": BIDI},
        )
        event["actor"] = {"id": "agent-1", "type": "AGENT", "roles": []}
        event["on_behalf_of"] = "dave"
        # An earlier step of the same run, allowed by the policy (a step of the run).
        step = make_events(1, held_share=0.0, seed=6)[0]
        step.update(run_id=event["run_id"], occurred_at=event["occurred_at"] - 1000)
        codec = default_codec()
        await produce(
            settings,
            topics.events,
            [(event["run_id"].encode(), codec.encode("WorkflowEvent", step))],
        )
        produced_at = time.monotonic()
        await produce(
            settings,
            topics.events,
            [(event["run_id"].encode(), codec.encode("WorkflowEvent", event))],
        )
        eid = event["event_id"]

        # The queue updates live (server-sent events), no reload.
        browser.get(console.base + "/")
        row = f'tr[data-event-id="{eid}"]'
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, row), 90)
        queue_latency = time.monotonic() - produced_at
        assert "release-manager" in browser.find_element(By.CSS_SELECTOR, ".roles").text
        _screenshot(browser, "console-queue.png")
        _assert_fits_phone(browser)

        # Keyboard only: Tab reaches the row's link, Enter opens the detail.
        link = browser.find_element(By.CSS_SELECTOR, f"{row} a")
        _tab_until(browser, lambda d: d.switch_to.active_element == link)
        t0 = time.monotonic()
        ActionChains(browser).send_keys(Keys.ENTER).perform()
        _wait(browser, lambda d: d.find_elements(By.ID, "event"))
        detail_load = time.monotonic() - t0
        assert browser.current_url.endswith(f"/event/{eid}")
        # ... and on to the reason, Approve and Reject.
        reached: set[str] = set()
        _tab_until(
            browser,
            lambda d: (
                reached.add(d.switch_to.active_element.get_attribute("id") or "")
                or {"reason", "approve", "reject"} <= reached
            ),
        )
        _assert_fits_phone(browser)
        # The earlier step of the run; the audit records (loaded by the page script).
        steps = browser.find_element(By.ID, "run-steps").text
        assert step["event_id"] in steps and "approved" in steps, steps
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#audit table.audit td"))
        assert "intake/" in browser.find_element(By.ID, "audit").text
        pre = browser.find_element(By.ID, "event").text
        assert "<script>window.__pwned=1</script>" in pre  # shown as text
        # The intake strips bidi/zero-width controls; none reaches the page unmarked (the
        # console shows any that do as ⟨U+202E⟩: tests/unit/console/test_render.py).
        assert not re.search("[\u202a-\u202e\u2066-\u2069\u200b]", browser.page_source)
        assert "invoicegpj.exe" in pre
        assert TOKEN not in browser.page_source  # the intake redacted it
        assert browser.find_elements(By.CSS_SELECTOR, "pre.event mark")  # findings marked
        findings = browser.find_element(By.CSS_SELECTOR, "table.findings").text
        assert "redacted" in findings
        assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")
        assert not [
            a
            for a in browser.find_elements(By.TAG_NAME, "a")
            if (a.get_attribute("href") or "").lower().startswith("javascript")
        ]
        assert browser.execute_script("return window.__pwned") is None

        # CSRF: a POST with the session cookie but no token, or with no login, is refused.
        status = browser.execute_async_script(
            "const done = arguments[0];"
            "fetch(location.pathname + '/decide', {method: 'POST', body: '{}',"
            " headers: {'Content-Type': 'application/json'}}).then(r => done(r.status));"
        )
        assert status == 403
        decide_url = f"{console.base}/event/{eid}/decide"
        assert await _post(decide_url, {"Content-Type": "application/json"}) == 403
        assert await _post(decide_url, {"X-CSRF-Token": "guess"}) == 403

        # Approve in the browser: signed with the key in IndexedDB.
        browser.find_element(By.ID, "reason").send_keys("diff reviewed in the console")
        browser.find_element(By.ID, "approve").click()
        status_el = _wait(
            browser,
            lambda d: [e for e in d.find_elements(By.ID, "decide-status") if e.text],
        )[0]
        assert status_el.text.startswith("Published approve"), status_el.text
        browser_decision_id = status_el.get_attribute("data-decision-id")

        # A self-approval (dave is the principal) is shown refused, with its reason.
        held = next(h for h in await collect(settings, topics.approvals) if h["event_id"] == eid)
        own = build_decision(
            event_id=eid,
            verdict="APPROVE",
            reviewer_id="dave",
            key_id="dave-k1",
            content_hash=held["content_hash"],
        )
        sign_decision(own, dave)
        # Live: the vote shows without a reload (a marker set on this page survives).
        browser.execute_script("window.__same_page = 1")
        await produce(settings, topics.decisions, [(eid.encode(), codec.encode("Decision", own))])
        _wait(browser, lambda d: "dave APPROVE" in d.find_element(By.ID, "facts").text, 60)
        votes = browser.find_element(By.CSS_SELECTOR, "ul.votes").text
        assert browser.execute_script("return window.__same_page") == 1
        assert "dave APPROVE (refused: self_approval" in votes, votes
        assert "alice APPROVE (valid): diff reviewed in the console" in votes, votes
        assert browser.execute_script("return window.__pwned") is None
        _screenshot(browser, "console-detail.png")

        # The second approval, signed in Python, as the CLI does.
        second = build_decision(
            event_id=eid,
            verdict="APPROVE",
            reviewer_id="bob",
            key_id="bob-k1",
            content_hash=held["content_hash"],
        )
        sign_decision(second, bob)
        await produce(
            settings, topics.decisions, [(eid.encode(), codec.encode("Decision", second))]
        )

        released: list[dict[str, Any]] = []
        for _ in range(90):
            released = [r for r in await collect(settings, topics.approved) if r["event_id"] == eid]
            if released:
                break
            await asyncio.sleep(1)
        assert released, (tmp_path / "worker.log").read_text()[-3000:]
        assert sorted(released[0]["reviewers"]) == ["alice", "bob"]
        # The release shows on the open detail page, no reload.
        _wait(browser, lambda d: d.find_element(By.ID, "status").text == "approved", 60)
        assert browser.execute_script("return window.__same_page") == 1

        # The lifecycle trace: what `sluice trace` prints, as text.
        browser.find_element(By.ID, "trace-link").click()
        trace = _wait(browser, lambda d: d.find_elements(By.ID, "trace"))[0].text
        for line in ("held for 2 approval(s)", "decision APPROVE by alice", "outcome APPROVED"):
            assert line in trace, trace
        assert browser.execute_script("return window.__pwned") is None

        # The browser's signature verifies in Python against the registry.
        from sluice.gate.reviewers import load_registry

        decisions = await collect(settings, topics.decisions)
        mine = [x for x in decisions if x["decision_id"] == browser_decision_id]
        assert mine and mine[0]["reviewer_id"] == "alice"
        clean = {k: v for k, v in mine[0].items() if not k.startswith("_")}
        assert load_registry(registry_path).check(clean) is None

        # The queue empties live once the release is seen.
        browser.get(console.base + "/")
        _wait(browser, lambda d: d.find_elements(By.ID, "empty"), 60)
        print(
            json.dumps(
                {"queue_latency_s": round(queue_latency, 2), "detail_load_s": round(detail_load, 2)}
            )
        )
    finally:
        console.stop()
        assert worker.stop() == 0


def _tab_until(driver: Any, done: Any, limit: int = 60) -> None:
    """Press Tab (from the top of the page) until ``done(driver)``."""
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if done(driver):
            return
    raise AssertionError(f"Tab did not get there in {limit} presses")


def _assert_fits_phone(driver: Any) -> None:
    """At a phone's 390x844 the page scrolls only vertically."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        scroll, inner = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert inner == 390 and scroll <= inner, (scroll, inner)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _screenshot(driver: Any, name: str) -> None:
    """The whole page (up to 2400 px tall) at 1280 px wide, into docs/."""
    if os.environ.get("SLUICE_SCREENSHOTS") != "1":
        return
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 150, 2400))
    driver.execute_script("window.scrollTo(0, 0)")
    target = REPO / "docs" / name
    tmp = target.with_suffix(".tmp.png")
    try:
        driver.save_screenshot(str(tmp))
        shutil.move(tmp, target)
    finally:
        driver.set_window_size(1280, 800)
