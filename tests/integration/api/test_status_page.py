"""The status page at /ui in a real headless Chromium (the Debian `chromium` package, driven
by Playwright): counts that follow pushed run events, the status and metadata filters, the
stuck-thread list of an alert rule, a thread's history and runs (run ids told apart), the
metadata the runs API adds kept out of the way, the transitions chart (with the minutes before
the page opened), a screenshot, escaping of thread data and the API key header.

The API runs with one alert rule on this module's metadata; the Redis is shared with the
session, so every assertion is about threads carrying this module's unique `suite` value.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uuid_utils

from tests.integration.helpers import AGENT_ASSISTANT_ID, INTERRUPTS, event, new_id, post_events
from tests.integration.servers import running_api
from tests.support import no_server

try:
    from playwright.sync_api import Browser, Page, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the test extra is not installed
    sync_playwright = None

TIMEOUT_MS = 15_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RULE = f"ui-stuck-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium executable; installed with apt-get on first use when we are root."""
    path = shutil.which("chromium")
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_install("chromium")
        path = shutil.which("chromium")
    if path is None:
        no_server(
            "the status page test needs the Debian package chromium (apt-get install chromium)"
        )
    return path


def _apt_install(package: str) -> None:
    """apt-get install -y `package`, refreshing the package lists if that fails once."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    run = {"env": env, "stdin": subprocess.DEVNULL, "capture_output": True, "text": True}
    result = subprocess.run(install, timeout=900, **run)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update"], timeout=600, **run)
        result = subprocess.run(install, timeout=900, **run)
    if result.returncode != 0:
        no_server(f"apt-get install {package} failed:\n{result.stdout[-2000:]}{result.stderr}")


@pytest.fixture(scope="module")  # stopped before other modules: its loop is live meanwhile
def browser(chromium: str) -> Iterator[Browser]:
    if sync_playwright is None:
        no_server("the status page test needs playwright (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def suite() -> str:
    """This module's metadata value: every thread it creates carries {"suite": suite}."""
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def ui_api(redis_url: str, suite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API with one alert rule: this suite's threads interrupted for more than 1 s."""
    rule = {
        "name": RULE,
        "status": "interrupted",
        "older_than": "1s",
        "metadata": {"suite": suite},
        "webhook": "https://alerts.example.com/hook",  # never called: no sweeper runs here
    }
    env = {"THREADWATCH_ALERT_RULES": json.dumps([rule])}
    with running_api(redis_url, tmp_path_factory.mktemp("ui"), env=env) as url:
        yield url


@pytest.fixture(scope="module")
def client(ui_api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_api, timeout=30.0) as client:
        yield client


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (own storage); uncaught script errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    yield page
    context.close()
    assert not problems, problems


# -- helpers ----------------------------------------------------------------------------------


def wait_for(page: Page, predicate: str, arg: Any = None, what: str = "") -> None:
    """Wait until the JS `predicate(arg)` is true; on timeout fail with what the page shows."""
    try:
        page.wait_for_function(predicate, arg=arg, timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        shown = page.evaluate(
            """() => ({
                conn: document.getElementById('conn').textContent,
                counts: Object.fromEntries([...document.querySelectorAll('[data-count]')]
                    .map(e => [e.dataset.count, e.textContent])),
                rows: [...document.querySelectorAll('#thread-rows tr')]
                    .map(r => [r.dataset.threadId, r.dataset.status]),
            })"""
        )
        pytest.fail(f"timed out waiting for {what or predicate}; the page shows {shown}")


def wait_counts(page: Page, **expected: int) -> None:
    wait_for(
        page,
        """exp => Object.entries(exp).every(([status, n]) =>
            document.querySelector(`[data-count="${status}"]`)?.textContent === String(n))""",
        expected,
        f"counts {expected}",
    )


def wait_rows(page: Page, ids: set[str], status: str | None = None) -> None:
    """Wait until the table shows exactly `ids` (all in `status` if given)."""
    wait_for(
        page,
        """([ids, status]) => {
            const rows = [...document.querySelectorAll('#thread-rows tr')];
            return rows.length === ids.length
                && rows.every(r => ids.includes(r.dataset.threadId))
                && (status === null || rows.every(r => r.dataset.status === status));
        }""",
        [sorted(ids), status],
        f"rows {sorted(ids)} ({status or 'any status'})",
    )


def filter_metadata(page: Page, text: str) -> None:
    page.fill("#filter-metadata", text)
    page.press("#filter-metadata", "Enter")


def start_runs(client: httpx.Client, suite: str, n: int, **fields: Any) -> dict[str, str]:
    """`n` new threads made busy by a started run; {thread_id: run_id}."""
    runs = {new_id(): new_id() for _ in range(n)}
    events = []
    for thread_id, run_id in runs.items():
        metadata = {"suite": suite, **fields}
        events.append(event(thread_id, run_id, "run.pending", metadata=metadata))
        events.append(event(thread_id, run_id, "run.started"))
    post_events(client, events)
    return runs


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE, data[:16]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# -- tests ------------------------------------------------------------------------------------


def test_alert_rules_endpoint_lists_the_rules_without_webhooks(
    client: httpx.Client, suite: str
) -> None:
    response = client.get("/alerts/rules")
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"name": RULE, "status": "interrupted", "older_than": 1.0, "metadata": {"suite": suite}}
    ]


def test_ui_is_served_with_its_assets(client: httpx.Client) -> None:
    redirect = client.get("/ui")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "ui/"
    page = client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        response = client.get(f"/ui/{asset}")
        assert response.status_code == 200, asset
        assert kind in response.headers["content-type"], response.headers
        assert f'"{asset}"' in page.text


def test_status_page_follows_the_threads(
    page: Page, ui_api: str, client: httpx.Client, suite: str, tmp_path: Path
) -> None:
    page.goto(f"{ui_api}/ui")
    assert page.url == f"{ui_api}/ui/"
    # Every status card shows a number (over the whole shared database at first).
    wait_for(
        page,
        "() => [...document.querySelectorAll('[data-count]')]"
        ".every(e => /^\\d+$/.test(e.textContent))",
        what="a number in every count card",
    )
    wait_for(page, "() => document.getElementById('conn').textContent.startsWith('live')")

    filter_metadata(page, f"suite={suite}")
    wait_counts(page, idle=0, busy=0, interrupted=0, error=0)
    wait_for(page, "() => !document.getElementById('threads-empty').hidden", what="no rows")

    # Five threads become busy; two of them then stop at an interrupt.
    busy = start_runs(client, suite, 5)
    wait_counts(page, idle=0, busy=5, interrupted=0, error=0)
    wait_rows(page, set(busy))
    interrupted = dict(list(busy.items())[:2])
    post_events(
        client,
        [event(t, r, "run.interrupted", interrupts=INTERRUPTS) for t, r in interrupted.items()],
    )
    wait_counts(page, idle=0, busy=3, interrupted=2, error=0)

    # The status filter: only the interrupted threads are listed.
    page.select_option("#filter-status", "interrupted")
    wait_rows(page, set(interrupted), "interrupted")
    assert "active" in (page.get_attribute('.count-card[data-status="interrupted"]', "class") or "")
    # ...and clicking the busy card switches the filter to busy.
    page.click('.count-card[data-status="busy"]')
    wait_rows(page, set(busy) - set(interrupted), "busy")
    assert page.input_value("#filter-status") == "busy"
    page.select_option("#filter-status", "")
    wait_rows(page, set(busy))

    # The alert rule's stuck list names both interrupted threads with how long they waited.
    wait_for(
        page,
        """([rule, ids]) => {
            const items = [...document.querySelectorAll(`[data-rule="${rule}"] li`)];
            return items.length === ids.length
                && items.every(li => ids.includes(li.dataset.threadId)
                    && /^waiting \\d+s$/.test(li.querySelector('.waited').textContent));
        }""",
        [RULE, sorted(interrupted)],
        "the stuck list",
    )
    assert page.text_content(f'[data-stuck-count="{RULE}"]') == "2"

    # A thread's detail: its status history (newest first) and its run.
    thread_id, run_id = next(iter(interrupted.items()))
    page.click(f'#thread-rows tr[data-thread-id="{thread_id}"]')
    wait_for(
        page,
        """() => [...document.querySelectorAll('#detail-history tr')]
            .map(r => r.dataset.to).join(',') === 'interrupted,busy'""",
        what="the history busy -> interrupted",
    )
    assert page.is_visible("#detail")
    assert page.text_content("#detail-id") == thread_id
    assert page.get_attribute(f'#detail-runs tr[data-run-id="{run_id}"]', "data-run-id") == run_id
    assert suite in (page.text_content("#detail-metadata") or "")
    assert page.text_content("#detail-problem-title") == "Interrupts"
    assert "a22d-interrupt" in (page.text_content("#detail-problem-body") or "")

    # Resuming the open thread: the counts, the stuck list and the open detail follow.
    post_events(client, [event(thread_id, new_id(), "run.pending")])
    wait_counts(page, idle=0, busy=4, interrupted=1, error=0)
    wait_for(
        page,
        """() => [...document.querySelectorAll('#detail-history tr')]
            .map(r => r.dataset.to).join(',') === 'busy,interrupted,busy'
            && document.querySelectorAll('#detail-runs tr[data-run-id]').length === 2""",
        what="the detail's new transition and run",
    )
    assert page.is_hidden("#detail-problem")  # busy again: no interrupts shown
    wait_for(
        page,
        'rule => document.querySelectorAll(`[data-rule="${rule}"] li`).length === 1',
        RULE,
        "one stuck thread left",
    )

    # The chart drew the sampled transitions (2 busy -> interrupted, 1 interrupted -> busy,
    # at least: other tests share the counters).
    wait_for(
        page,
        "() => Number(document.getElementById('chart').dataset.total) >= 3"
        " && document.querySelectorAll('#chart polyline').length === 4",
        what="three transitions in the chart",
    )

    shot = tmp_path / "status_page.png"
    data = page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes() == data
    width, height = png_size(data)
    assert width >= 1000 and height >= 600, (width, height)
    assert len(data) > 20_000, len(data)


def test_status_page_escapes_thread_data_and_sends_the_api_key(
    page: Page, ui_api: str, client: httpx.Client
) -> None:
    other = str(uuid.uuid4())  # a suite of its own: the alert rule does not see it
    hostile = '<img src=x onerror="window.__xss=1"><b>bold</b>'
    (thread_id,) = start_runs(client, other, 1, note=hostile)

    page.goto(f"{ui_api}/ui/")
    page.fill("#api-key", "key-for-the-page")
    page.press("#api-key", "Enter")
    filter_metadata(page, f"suite={other}, note={hostile}")
    wait_rows(page, {thread_id}, "busy")
    page.click(f'#thread-rows tr[data-thread-id="{thread_id}"]')
    wait_for(page, "() => document.querySelectorAll('#detail-history tr[data-to]').length === 1")

    shown = json.dumps(hostile)  # as JSON text, quotes escaped, tags literal
    assert shown in (page.text_content("#detail-metadata") or "")
    assert shown in (page.text_content("#thread-rows") or "")
    assert page.locator("img").count() == 0 and page.locator("main b").count() == 0
    assert page.evaluate("window.__xss") is None

    # The key is kept in localStorage and sent on every request, after a reload too.
    page.reload()
    assert page.input_value("#api-key") == "key-for-the-page"
    with page.expect_request(lambda r: r.url.endswith("/threads/count")) as request:
        pass
    assert request.value.headers.get("x-api-key") == "key-for-the-page"


def test_run_ids_are_shown_by_their_distinct_end(
    page: Page, ui_api: str, client: httpx.Client
) -> None:
    """uuid7 run ids made close together share their first characters: the history shows
    their last 12, the whole id in the title, copied by a click."""
    first = str(uuid_utils.uuid7())
    second = f"{first[:24]}{uuid.uuid4().hex[:12]}"  # the same first 24 characters
    thread_id, other = new_id(), str(uuid.uuid4())
    post_events(
        client,
        [
            event(thread_id, first, "run.pending", metadata={"suite": other}),
            event(thread_id, first, "run.started"),
            event(thread_id, first, "run.interrupted", interrupts=INTERRUPTS),
            event(thread_id, second, "run.pending"),
        ],
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_api)
    page.goto(f"{ui_api}/ui/")
    filter_metadata(page, f"suite={other}")
    wait_rows(page, {thread_id}, "busy")
    page.click(f'#thread-rows tr[data-thread-id="{thread_id}"]')
    wait_for(
        page,
        "id => [...document.querySelectorAll('#detail-history .short-id')]"
        ".some(e => e.dataset.id === id)",
        second,
        "the second run in the history",
    )
    shown = page.evaluate(
        """() => [...document.querySelectorAll('#detail-history .short-id')]
            .map(e => [e.dataset.id, e.textContent, e.title])"""
    )
    for run_id in (first, second):
        assert [run_id, f"…{run_id[-12:]}", f"{run_id} (click to copy)"] in shown, shown
    assert f"…{first[-12:]}" != f"…{second[-12:]}"

    page.click(f'#detail-history .short-id[data-id="{second}"]')
    wait_for(
        page,
        "async id => (await navigator.clipboard.readText()) === id",
        second,
        "the whole run id in the clipboard",
    )


def test_the_metadata_column_keeps_the_added_keys_out_of_the_way(
    page: Page, ui_api: str, client: httpx.Client
) -> None:
    """graph_id and assistant_id, which the runs API adds to every thread it runs, do not
    crowd out the user's own keys: the graph is named, dimmed, after them."""
    other = str(uuid.uuid4())
    added = {"graph_id": "agent", "assistant_id": AGENT_ASSISTANT_ID}
    (mine,) = start_runs(client, other, 1, team="x", **added)

    page.goto(f"{ui_api}/ui/")
    filter_metadata(page, f"suite={other}")
    wait_rows(page, {mine})
    cells = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#thread-rows tr')].map(r => {
            const cell = r.querySelector('td.meta');
            const dim = cell.querySelector('.auto-meta');
            return [r.dataset.threadId, [cell.textContent, dim && dim.textContent, cell.title]];
        }))"""
    )
    text, dimmed, title = cells[mine]
    assert text == f'{{"suite":"{other}","team":"x"}} graph: agent', text
    assert dimmed == " graph: agent"
    assert json.loads(title) == {"suite": other, "team": "x", **added}  # all of it on hover


def test_the_chart_shows_the_transitions_made_before_the_page_opened(
    page: Page, ui_api: str, client: httpx.Client
) -> None:
    """The counters of /metrics only tell what happens while the page is open: the minutes
    before come from the threads' transition lists, so a fresh page is not empty."""
    other = str(uuid.uuid4())
    busy = start_runs(client, other, 3)  # 3 x idle -> busy
    thread_id, run_id = next(iter(busy.items()))
    post_events(client, [event(thread_id, run_id, "run.interrupted", interrupts=INTERRUPTS)])

    page.goto(f"{ui_api}/ui/")
    # Nothing happens once the page is open: what the legend counts is from before. At least
    # these (other tests' threads may have changed status in the last minutes too).
    wait_for(
        page,
        """() => {
            const legend = document.getElementById('chart-legend').textContent;
            const sum = (status) => parseInt(legend.split(`→ ${status}: `)[1] ?? "0", 10);
            return sum('busy') >= 3 && sum('interrupted') >= 1;
        }""",
        what="the transitions from before the page opened in the chart",
    )
    assert page.evaluate("document.querySelectorAll('#chart polyline').length") == 4
