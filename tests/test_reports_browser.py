"""The leaderboard page in real headless Chromium (Debian's; `make browser` installs it).

Loads from file:// with no console errors, no network requests and no dialogs; the main table
has the expected rows; a <script> in a method label and in a generation shows as literal text
and runs nothing; the four plots render with visible size.
"""
import os

import pytest

from synthruns import populate
from test_reports_leaderboard import XSS_METHOD, XSS_TEXT, add_hostile_rows
from realignbench.config import load_config
from realignbench.reports.leaderboard import build_leaderboard, write_leaderboard
from realignbench.reports.records import load_records

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def page_events(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: `make browser` installs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    runs, out = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("out")
    cfg = load_config("tiny", ["seeds=[0,1]"]).to_dict()
    populate(runs, cfg)
    add_hostile_rows(runs, cfg)
    html = write_leaderboard(build_leaderboard(load_records(runs), cfg), out)[0]
    events = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.on("console", lambda m: m.type in ("error", "warning")
                and events.append(f"console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: events.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (events.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("request", lambda r: r.url.startswith(("file:", "data:"))
                or events.append(f"request: {r.url}"))
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        yield page, events
        browser.close()


def test_loads_without_console_errors_or_requests(page_events):
    page, events = page_events
    assert page.title() == "realignbench leaderboard"
    assert events == []


def test_rows_and_provenance(page_events):
    page, _ = page_events
    rows = page.locator("#leaderboard tbody tr")
    labels = [t.split("\n")[0] for t in rows.locator("th").all_inner_texts()]
    assert labels[:7] == ["Base model", "M_ref (π_old-aligned, untouched)", "Naive Oracle DPO",
                          "rDPO", "DPO-Gold", "U2A", "TRACE"]
    assert "TRACE ablation: w/o KL anchor" in labels and XSS_METHOD in labels
    trace = page.locator('#leaderboard tr[data-row="trace"]')
    assert "preset tiny · 2 seed(s)" in trace.inner_text()
    assert page.locator("#human").count() == 1
    assert "SIMULATED" in page.locator("body").inner_text()


def test_markup_in_labels_and_generations_is_inert_text(page_events):
    page, events = page_events
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script").count() == 0 and page.locator("#leaderboard img").count() == 0
    hostile = page.locator("#leaderboard tbody tr").filter(has_text="evil")
    assert XSS_METHOD in hostile.locator("th").inner_text()
    assert XSS_TEXT in hostile.locator("td.excerpt").inner_text()
    trace_excerpt = page.locator('#leaderboard tr[data-row="trace"] td.excerpt').inner_text()
    assert trace_excerpt == XSS_TEXT
    assert events == []


def test_plots_render(page_events):
    page, _ = page_events
    for plot in ("tpa_vs_size", "noise", "capability", "scatter"):
        box = page.locator(f"#plot-{plot} svg").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200
    assert page.locator("#plot-tpa_vs_size circle").count() == 4      # 2 methods x 2 sizes
    assert page.locator("#plot-noise polyline").count() == 4          # 4 methods over p
