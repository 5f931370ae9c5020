"""The HTML report in a real browser: headless Chromium driven by Playwright.

Checks, on the paper's spec and on a synthetic ladder: no console errors or page errors, no
network request of any kind (the report is self-contained), every figure loaded with a non-zero
size, every task card present, no sideways scrolling at laptop widths; at a desktop width no badge
or figure runs out of its card and the predictions tables show every column without scrolling;
at a phone width (390 px) nothing scrolls sideways and every cell of the predictions tables
(Actual, Error, Reliability included) lies on screen, labelled with its column. Screenshots go to
``test-output/report/`` (git-ignored) for a person to look at.

The test installs what it needs: Playwright's Python package (``pip``) when it is missing, and
Debian's ``chromium`` (``apt-get``, as root) when no Chromium is on the PATH; Playwright's own
browser download is never used. Where Chromium still cannot be installed or started, the test is
skipped with the reason, loudly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from synthetic import write_synthetic_ladder
from taskladder.report.html import build_report
from taskladder.report.tables import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "test-output" / "report"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _skip_loudly(reason: str):
    warnings.warn(f"BROWSER TEST SKIPPED: {reason}", stacklevel=2)
    pytest.skip(f"BROWSER TEST SKIPPED: {reason}")


def _find_chromium() -> str | None:
    for name in (os.environ.get("TASKLADDER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _install_chromium() -> str | None:
    """Debian's chromium package, when we are root and apt-get exists."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for commands in ([["apt-get", "install", "-y", "-q", "chromium"]],
                     [["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]]):
        try:
            if all(subprocess.run(c, env=env, capture_output=True, timeout=900).returncode == 0 for c in commands):
                break
        except subprocess.TimeoutExpired:
            return None
    return _find_chromium()


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "playwright"], capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            _skip_loudly(f"Playwright is not installed and 'pip install playwright' failed: {proc.stderr.strip()[-300:]}")
        from playwright.sync_api import sync_playwright
    return sync_playwright


@pytest.fixture(scope="module")
def browser():
    executable = _find_chromium() or _install_chromium()
    if executable is None:
        _skip_loudly("no Chromium on the PATH and it could not be installed (needs root and apt-get: "
                     "apt-get install chromium)")
    sync_playwright = _playwright()
    profile = tempfile.mkdtemp(prefix="taskladder-chromium-")
    manager = sync_playwright().start()
    try:
        try:
            context = manager.chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
                viewport=DESKTOP)
        except Exception as exc:  # noqa: BLE001 - any launch failure means Chromium cannot run here
            _skip_loudly(f"Chromium at {executable} cannot start here: {' '.join(str(exc).split())[:400]}")
        yield context
        context.close()
    finally:
        manager.stop()
        shutil.rmtree(profile, ignore_errors=True)


DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
# Badges and figures whose box leaves the card (or task card) they sit in.
_OUTSIDE_CARD = """() => [...document.querySelectorAll('.badge, figure img')].filter(e => {
    const card = e.closest('.card, section.task-card'); if (!card) return false;
    const r = e.getBoundingClientRect(), c = card.getBoundingClientRect();
    return r.right > c.right + 1 || r.left < c.left - 1; }).map(e => e.textContent || e.alt).slice(0, 5)"""
_SCROLLING_PREDICTIONS = """() => [...document.querySelectorAll('.table-wrap')].filter(w =>
    w.querySelector('table.predictions') && w.scrollWidth > w.clientWidth + 1).map(w => w.scrollWidth)"""
# Every body cell of the predictions tables: its box and the column name shown beside it.
_PREDICTION_CELLS = """() => [...document.querySelectorAll('table.predictions td')].map(td => {
    const r = td.getBoundingClientRect();
    const before = getComputedStyle(td, '::before').content;
    return {label: td.dataset.label || '', left: r.left, right: r.right, width: r.width,
            labelled: before.replace(/"/g, '') === (td.dataset.label || '')}; })"""


def _check(context, html_path: Path, tasks: list[str], name: str) -> dict:
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

    def route(r):
        if r.request.url == html_path.as_uri():
            return r.continue_()
        requests.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.goto(html_path.as_uri(), wait_until="load")
    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,"
               " rw: i.getBoundingClientRect().width, rh: i.getBoundingClientRect().height}))")
    cards = page.eval_on_selector_all(
        "section.task-card", "cs => cs.map(c => ({task: c.dataset.task, h: c.getBoundingClientRect().height}))")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}-top.png"))
    page.screenshot(path=str(OUTPUT / f"{name}-full.png"), full_page=True)
    page.locator(f'section.task-card[data-task="{tasks[0]}"]').scroll_into_view_if_needed(timeout=5000)
    page.screenshot(path=str(OUTPUT / f"{name}-card.png"))
    # Desktop: badges and figures stay inside their cards; predictions tables need no scrolling.
    outside = page.evaluate(_OUTSIDE_CARD)
    clipped_tables = page.evaluate(_SCROLLING_PREDICTIONS)
    page.set_viewport_size({"width": 1024, "height": 768})
    narrow_overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.set_viewport_size(PHONE)
    phone_overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    phone_cells = page.evaluate(_PREDICTION_CELLS)
    if page.locator("table.predictions").count():
        page.locator("table.predictions").first.scroll_into_view_if_needed(timeout=5000)
    page.screenshot(path=str(OUTPUT / f"{name}-phone.png"))
    page.close()
    assert errors == [], errors
    assert requests == [], f"the report asked the network for {requests}"
    assert images, "no figure in the report"
    for img in images:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, f"figure not loaded: {img}"
        assert img["rw"] > 100 and img["rh"] > 50, f"figure drawn too small: {img}"
    assert [c["task"] for c in cards] == tasks
    assert all(c["h"] > 200 for c in cards)
    assert overflow <= 0 and narrow_overflow <= 0, (overflow, narrow_overflow)
    assert outside == [], f"at {DESKTOP['width']} px these run out of their card: {outside}"
    assert clipped_tables == [], f"at {DESKTOP['width']} px these predictions tables scroll sideways: {clipped_tables}"
    assert phone_overflow <= 0, f"at {PHONE['width']} px the page scrolls sideways by {phone_overflow} px"
    assert phone_cells, "no predictions table"
    off = [c for c in phone_cells if not (c["left"] >= 0 and c["right"] <= PHONE["width"] and c["width"] > 0)]
    assert off == [], f"at {PHONE['width']} px these prediction cells are off screen: {off[:5]}"
    shown = {c["label"] for c in phone_cells}
    assert {"Predicted", "Actual", "Error (pts)"} <= shown, shown
    assert all(c["labelled"] for c in phone_cells), "prediction cells without their column's name"
    return {"images": len(images), "cards": len(cards)}


@pytest.mark.shared_data
def test_paper_report_in_chromium(browser, olmo_data, tmp_path):
    tasks = ["hellaswag", "arc_easy"]
    html = build_report(REPO / "specs" / "olmo-paper.toml", tasks=tasks, n_bootstrap=50)
    path = atomic_write_text(tmp_path / "paper.html", html)
    shown = _check(browser, path, tasks, "paper")
    assert shown["cards"] == 2 and shown["images"] == 1 + 2 * 4 + 2   # per card 4 figures, 1 residual figure
    assert (OUTPUT / "paper-full.png").stat().st_size > 10_000


def test_synthetic_report_in_chromium(browser, tmp_path):
    tasks = ["hellaswag", "piqa", "arc_easy"]
    spec = write_synthetic_ladder(tmp_path, noise=0.01, tasks=tuple(tasks))
    html = build_report(spec, tasks=tasks, variant="two-step", n_bootstrap=40)
    path = atomic_write_text(tmp_path / "synthetic.html", html)
    shown = _check(browser, path, tasks, "synthetic")
    assert shown["images"] == 1 + 3 * 4 + 3


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    """The same checks fail on a page with a script error, a network request and a broken image."""
    page = ('<!DOCTYPE html><html><body><section class="task-card" data-task="piqa" style="height:300px">'
            '<img src="https://example.invalid/figure.png" alt="x"></section>'
            "<script>console.error('boom')</script></body></html>")
    path = atomic_write_text(tmp_path / "broken.html", page)
    with pytest.raises(AssertionError) as failure:
        _check(browser, path, ["piqa"], "broken")
    assert "boom" in str(failure.value) or "network" in str(failure.value)


def test_the_phone_check_catches_a_table_that_hides_columns(browser, tmp_path):
    """A predictions table without the report's stylesheet fits a desktop but leaves cells off a phone's screen."""
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
    cells = "".join(f'<td data-label="c{i}">{"x" * 12}</td>' for i in range(8))
    page = ('<!DOCTYPE html><html><body><section class="task-card" data-task="piqa" style="height:300px">'
            f'<img src="{pixel}" alt="f" style="width:200px;height:100px">'
            f'<div class="table-wrap" style="overflow-x:auto"><table class="predictions"><tr>{cells}</tr></table>'
            "</div></section></body></html>")
    path = atomic_write_text(tmp_path / "wide.html", page)
    with pytest.raises(AssertionError) as failure:
        _check(browser, path, ["piqa"], "wide")
    assert "off screen" in str(failure.value), str(failure.value)
