"""`msgen up`'s dashboard, in a real browser (Debian's chromium driven by Playwright), and its OTLP receiver.

The browser test runs one `msgen up` of the shop and goes through the dashboard as a user would: the
services ready, an order placed from the API explorer, its saga CONFIRMED on the saga page, its trace
across the services and the broker, the logs of every service found by its correlation id, a dead
letter replayed. The screenshots stay in the test's tmp dir (their paths are printed).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from msgen.generate import Generated
from msgen.writer import write_project
from tests.processes import communicate, scaled, spawned, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SERVICES = {"gateway", "user", "product", "inventory", "order", "payment", "notification"}


# -- the OTLP receiver and the store, without a browser ----------------------------------------


@pytest.fixture
def board(tmp_path: Path, shop: Generated) -> Iterator[Any]:
    from msgen.dashboard import Dashboard
    from msgen.localrun import free_port

    def make() -> Any:
        made = Dashboard(
            tmp_path,
            shop.system,
            [],
            store=tmp_path / "telemetry.sqlite3",
            port=free_port(),
            admin_token=None,
            processes=dict,
            gateway=None,
        )
        made.start()
        assert made.wait_started(scaled(10)), "the dashboard did not start"
        return made

    boards = [make()]
    yield lambda: boards.append(make()) or boards[-1]
    for made in boards:
        made.stop()


def test_spans_exported_over_otlp_are_kept_and_survive_a_restart(board: Any) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    first = board()
    provider = TracerProvider(resource=Resource.create({"service.name": "order"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{first.url}/v1/traces")))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("POST /v1/orders", kind=SpanKind.SERVER) as root,
        tracer.start_as_current_span("publish order.created", kind=SpanKind.PRODUCER),
    ):
        pass
    with tracer.start_as_current_span("SELECT order.db", kind=SpanKind.CLIENT):  # background work: not kept
        pass
    provider.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")
    listed = httpx.get(f"{first.url}/api/traces").json()
    assert [t["trace_id"] for t in listed] == [trace_id]
    first.stop()

    again = board()  # the same store: the trace is still there
    spans = httpx.get(f"{again.url}/api/traces/{trace_id}").json()["spans"]
    assert [(s["service"], s["name"], s["kind"]) for s in spans] == [
        ("order", "POST /v1/orders", "SERVER"),
        ("order", "publish order.created", "PRODUCER"),
    ]
    assert spans[1]["parent_id"] == spans[0]["span_id"]


def test_the_receiver_takes_otlp_json_and_answers_garbage_with_a_problem(board: Any) -> None:
    url = board().url
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    export = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payment"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "receive order.created",
                                "kind": 5,
                                "startTimeUnixNano": "1000",
                                "endTimeUnixNano": "5000",
                                "status": {"code": 2},
                                "attributes": [{"key": "messaging.message.id", "value": {"stringValue": "m-1"}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    answer = httpx.post(f"{url}/v1/traces", json=export)
    assert answer.status_code == 200, answer.text
    [span] = httpx.get(f"{url}/api/traces/{trace_id}").json()["spans"]
    assert (span["service"], span["kind"], span["error"], span["end_ns"] - span["start_ns"]) == (
        "payment",
        "CONSUMER",
        True,
        4000,
    )
    assert span["attributes"] == {"messaging.message.id": "m-1"}
    for body, kind in (
        (b"\xff\x00 not protobuf", "application/x-protobuf"),
        (b"{not json", "application/json"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]}', "application/json"),
        (b'{"resourceSpans": "x"}', "application/json"),
    ):
        bad = httpx.post(f"{url}/v1/traces", content=body, headers={"content-type": kind})
        assert bad.status_code == 400, (body, bad.text)
        assert bad.headers["content-type"] == "application/problem+json"


def test_an_exporter_that_hangs_up_midway_is_answered_not_raised(board: Any) -> None:
    """A service stopped by msgen up while it exports its spans: the receiver answers, with no traceback."""
    from starlette.requests import Request

    async def hung_up() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/v1/traces", "headers": [(b"content-length", b"1000")]}
    answer = asyncio.run(board().receive_traces(Request(scope, hung_up)))
    assert answer.status_code == 400


def test_the_pages_writes_need_the_dashboards_header(board: Any) -> None:
    """A page of another site can post to 127.0.0.1 too, but not with a custom header (CORS preflight)."""
    url = board().url
    assert httpx.post(f"{url}/api/dead-letters/inventory/{uuid.uuid4()}/replay").status_code == 403
    assert httpx.post(f"{url}/api/try", json={"index": 0}).status_code == 403


def test_log_lines_are_made_readable_and_keep_their_ids() -> None:
    from msgen.dashboard.loglines import parse

    line = parse(
        "order",
        json.dumps(
            {
                "level": "WARNING",
                "service": "order",
                "correlation_id": "c-1",
                "trace_id": "ab" * 16,
                "event": "message.failed",
                "logger": "msgen.consumer",
                "topic": "order.created",
                "error": "ValueError: no stock",
                "timestamp": "2026-01-01T00:00:00+00:00",
            }
        ),
    )
    assert line is not None
    assert (line.level, line.correlation_id, line.trace_id) == ("WARNING", "c-1", "ab" * 16)
    assert line.text == 'message.failed topic=order.created error="ValueError: no stock"'
    raw = parse("nats", "[1] 2026/12/02 [ERR] something broke")
    assert raw is not None and (raw.level, raw.text) == ("ERROR", "[1] 2026/12/02 [ERR] something broke")
    assert parse("nats", "   ") is None


def test_red_figures_come_from_the_difference_of_two_scrapes() -> None:
    from msgen.dashboard.collect import parse_metrics, red_between

    def scrape(at: float, fast: int, slow: int, errors: int) -> str:
        count = fast + slow
        return (
            f'http_requests_total{{method="GET",route="/v1/x",status="200"}} {count}\n'
            f'http_requests_total{{method="GET",route="/metrics",status="200"}} {at * 100}\n'
            f'http_server_errors_total{{method="GET",route="/v1/x",status="500"}} {errors}\n'
            f'http_request_duration_seconds_bucket{{method="GET",route="/v1/x",le="0.01"}} {fast}\n'
            f'http_request_duration_seconds_bucket{{method="GET",route="/v1/x",le="0.1"}} {count}\n'
            f'http_request_duration_seconds_bucket{{method="GET",route="/v1/x",le="+Inf"}} {count}\n'
        )

    old = parse_metrics(scrape(0, 0, 0, 0), at=0.0)
    new = parse_metrics(scrape(10, 80, 20, 5), at=10.0)
    red = red_between(old, new)
    assert (red.rate, red.errors) == (10.0, 0.5)  # the /metrics scrapes are not traffic
    assert red.p50_ms == pytest.approx(6.25)  # within the first bucket
    assert red.p95_ms == pytest.approx(10 + 90 * 0.75)  # 95th of 100: three quarters into (10 ms, 100 ms]


# -- in a browser, under msgen up --------------------------------------------------------------


def _chromium() -> str:
    if not Path(CHROMIUM).is_file():
        if os.environ.get("MSGEN_TEST_TOOLS"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; MSGEN_TEST_TOOLS=1 fails instead)")
    return CHROMIUM


async def _poison(broker: str, message_id: str) -> None:
    import nats

    connection = await nats.connect(broker)
    await connection.jetstream().publish(
        "order.created", b"\x00not avro", headers={"message-id": message_id, "event": "order.created"}
    )
    await connection.close()


@pytest.mark.slow
def test_the_dashboard_in_a_browser_follows_an_order_from_the_api_explorer(
    shop: Generated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = _chromium()
    project = tmp_path / "shop"
    write_project(project, shop.files, shop.system.spec_hash)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    command = [sys.executable, "-m", "msgen", "up", str(project), "--port", "0"]
    with spawned(command, env={**os.environ, "COLUMNS": "200"}, merge_stderr=True) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        while "(this summary stays in" not in "".join(lines[-1:]):  # printed once everything is ready
            line = proc.stdout.readline()
            assert line, "".join(lines)[-3000:]
            lines.append(line)
        output = "".join(lines)
        found = re.search(r"^Dashboard: (http://127\.0\.0\.1:\d+) ", output, re.MULTILINE)
        assert found, output[-3000:]
        url = found.group(1)
        assert f"open {url}" in output  # with the next steps, kept in the summary
        # the rest of the output is read (and dropped) as it comes, so that msgen up never blocks on the pipe
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        timeout_ms = scaled(60) * 1000
        saved: list[Path] = []

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(timeout_ms)
            expect.set_options(timeout=timeout_ms)

            def shot(name: str) -> None:
                path = shots / f"{len(saved) + 1:02d}-{name}.png"
                page.screenshot(path=str(path), full_page=True)
                saved.append(path)

            # services: every process is there, live and ready, with its pid
            page.goto(url)
            rows = page.locator("#services-table tbody tr")
            expect(rows).to_have_count(len(SERVICES) + 1)  # and the nats-server
            expect(page.locator("#services-table td.ready .yes")).to_have_count(len(SERVICES) + 1)
            shot("services")

            # the API explorer: POST /v1/orders, its refs filled with existing entities, sent with a dev token
            page.click("a[data-tab=api]")
            page.click('#routes-table tr[data-method="POST"][data-path="/v1/orders"]')
            expect(page.locator("#try-scopes")).to_contain_text("orders:create")
            body = page.locator("#try-form textarea[name=body]")
            expect(body).to_have_value(re.compile(r'"user_id": "[0-9a-f-]{36}"'))
            expect(page.locator("#try-form")).not_to_have_attribute("data-loading", "1")
            page.click("#try-send")
            expect(page.locator("#try-status")).to_have_text("HTTP 202")
            order_id = json.loads(page.locator("#try-body").inner_text())["id"]
            cid = page.locator("#try-cid").inner_text()
            assert cid, "the explorer shows the request's correlation id"
            shot("api-explorer")

            # sagas: the order's saga reaches CONFIRMED (the page refreshes itself)
            page.click("a[data-tab=sagas]")
            saga = page.locator(f'#sagas-table tr[data-key="{order_id}"]')
            expect(saga.locator("td.status")).to_have_text("CONFIRMED")
            expect(saga.locator(".statuses li")).to_have_count(3)  # PENDING_PAYMENT, PAID, CONFIRMED
            expect(saga.locator(".statuses")).to_contain_text("PAID ← payment.authorized")
            expect(saga.locator("td.steps li")).to_have_text(["authorize_payment: done", "reserve_inventory: done"])
            shot("saga-confirmed")

            # its trace: one waterfall across the HTTP calls and the broker hops, every service in it
            saga.locator("a", has_text="trace").click()
            waterfall = page.locator("#waterfall")
            expect(waterfall).to_be_visible()

            def trace_services() -> set[str]:
                names = page.locator("#waterfall .span-row").evaluate_all("rows => rows.map(r => r.dataset.service)")
                return set(names)

            # the last spans (the notification's) arrive within the exporters' batch delay: reopen until in
            deadline = time.monotonic() + scaled(30)
            while trace_services() != SERVICES and time.monotonic() < deadline:
                page.wait_for_timeout(500)
                page.evaluate("location.hash = location.hash.replace(/&r=\\d+$/, '') + '&r=' + Date.now()")
            assert trace_services() == SERVICES
            kinds = set(page.locator("#waterfall .span-row").evaluate_all("rows => rows.map(r => r.dataset.kind)"))
            assert {"SERVER", "CLIENT", "PRODUCER", "CONSUMER"} <= kinds
            expect(waterfall.locator(".span-row", has_text="receive order.created")).not_to_have_count(0)
            shot("trace-waterfall")

            # its logs: every service's lines, by the request's correlation id, one click from the trace
            waterfall.locator("a", has_text=f"logs of correlation id {cid}").click()
            expect(page.locator("#log-filters input[name=cid]")).to_have_value(cid)

            def log_processes() -> set[str]:
                return set(page.locator("#logs-table td.process").all_inner_texts())

            wait_for(
                lambda: log_processes() == SERVICES, timeout=30, what="the logs of every service by correlation id"
            )
            shot("logs-by-correlation-id")

            # a dead letter: a poison message, listed on the messaging page, replayed from there
            broker = next(s["url"] for s in httpx.get(f"{url}/api/services").json()["services"] if s["name"] == "nats")
            message_id = f"poison-{uuid.uuid4().hex[:8]}"
            # in a thread of its own: Playwright's sync API runs an event loop in this one
            publisher = threading.Thread(target=asyncio.run, args=(_poison(broker, message_id),))
            publisher.start()
            publisher.join(timeout=scaled(30))
            page.click("a[data-tab=messaging]")
            letters = page.locator(f'#dead-letters-table tr[data-message="{message_id}"]')
            expect(letters).to_have_count(2)  # both consumers of order.created: inventory and payment
            letter = letters.and_(page.locator('[data-service="inventory"]'))
            letter.locator("button.replay").click()
            # still poison: the replay puts it back among the dead letters, as msgen dlq says
            expect(page.locator("#replay-outcome")).to_have_text(f"replayed {message_id} (inventory): dead-lettered")
            expect(page.locator("#messaging-table tbody tr")).to_have_count(len(SERVICES) - 1)  # not the gateway
            expect(page.locator('#messaging-table tr[data-service="order"] td.outbox')).to_have_text(
                re.compile(r"^\d+$")
            )
            shot("dead-letter-replayed")

            # the service graph, drawn in the page by mermaid
            page.click("a[data-tab=graph]")
            expect(page.locator("#graph svg")).to_be_visible()
            expect(page.locator("#graph svg")).to_contain_text("inventory")
            shot("graph")
            browser.close()

        proc.send_signal(signal.SIGTERM)
        drain.join(timeout=scaled(60))
        communicate(proc, timeout=60)
    with capsys.disabled():
        print("\ndashboard screenshots:", *[str(p) for p in saved], sep="\n  ")
    assert all(p.stat().st_size > 10_000 for p in saved)
