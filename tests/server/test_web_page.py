"""The web page in a real headless browser (Debian's chromium, driven by Playwright):
ask, watch the rounds, read the answer with its sources, browse past runs, open a report."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sounding.config import Settings
from sounding.server import ServeConfig

from .conftest import KEY, Served, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (serve extra)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
"""Where the screenshot goes when SOUNDING_UPDATE_SCREENSHOTS=1 (to refresh the docs'
picture); otherwise the test's own temporary folder, so a test run never edits the tree."""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page_server(serve_settings: Settings, config: ServeConfig, tmp_path: Path
                ) -> Iterator[Served]:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "eval-frames.html").write_text(
        "<html><body><h1>Eval report: frames</h1><p>accuracy 0.61</p></body></html>")
    running = serve(serve_settings, replace(config, reports_dir=reports, rate_per_minute=0))
    yield running
    running.stop()


def test_ask_watch_answer_and_browse(browser: object, page_server: Served,
                                     tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    try:
        page.goto(page_server.url + "/")
        page.fill("#key", KEY)
        page.dispatch_event("#key", "change")
        page.fill("#question", "Who won Nobel prizes in two different sciences?")
        page.select_option("#mode", "react")
        page.click("#go")
        page.wait_for_selector("#answer-box:not([hidden])", timeout=30_000)
        assert page.text_content("#answer").startswith("Marie Curie")
        source = page.locator("#sources a").first
        assert source.get_attribute("href") == "https://en.wikipedia.org/wiki/Marie_Curie"
        assert source.get_attribute("rel") == "noopener noreferrer"
        log = page.text_content("#log")
        assert "Round 1" in log and "search" in log and "look it up" in log
        page.wait_for_selector("#runs li .badge.finished")
        shots = SHOTS if os.environ.get("SOUNDING_UPDATE_SCREENSHOTS") else tmp_path
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "web-answer.png"), full_page=True)
        assert (shots / "web-answer.png").stat().st_size > 10_000  # a real picture

        page.reload()  # a past run opens as a transcript
        page.fill("#key", KEY)
        page.dispatch_event("#key", "change")
        page.wait_for_selector("#runs li .badge.finished")
        page.click("#runs li a.run")
        page.wait_for_selector("#answer-box:not([hidden])")
        assert "Round 1" in page.text_content("#log")

        page.click("#reports li a.report")
        report = page.frame_locator("#report-frame").locator("p")
        report.wait_for()  # the frame loads its document after the click
        assert report.text_content() == "accuracy 0.61"
    finally:
        page.close()


def test_cancel_from_the_page(browser: object, page_server: Served, llm: object) -> None:
    llm.latency = 2.0  # type: ignore[attr-defined]
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(page_server.url + "/")
        page.fill("#key", KEY)
        page.dispatch_event("#key", "change")
        page.fill("#question", "slow question")
        page.click("#go")
        page.wait_for_selector("#cancel:not([disabled])")
        page.wait_for_function("document.getElementById('status').textContent"
                               ".startsWith('Researching')")
        page.click("#cancel")
        page.wait_for_function("document.getElementById('status').textContent"
                               ".includes('cancelled')", timeout=15_000)
        llm.latency = 0.01  # type: ignore[attr-defined]
        page.click("#runs li button.rerun")  # a cancelled run can go again, in one click
        page.wait_for_selector("#answer-box:not([hidden])", timeout=30_000)
        assert page.text_content("#answer").startswith("Marie Curie")
        assert "run restarted" in page.text_content("#log")
    finally:
        page.close()
