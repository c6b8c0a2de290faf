"""What the dashboard polls: each service's health and its Prometheus metrics, turned into live RED figures."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Collector", "Red", "Target", "red_between"]

QUIET = frozenset({"/health/live", "/health/ready", "/metrics"})  # the dashboard's own polling: not traffic


@dataclass(frozen=True)
class Target:
    name: str
    url: str | None  # http://127.0.0.1:PORT; None for the nats-server
    port: int | None


@dataclass
class Scrape:
    at: float
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count, over every route
    outbox_pending: float | None = None
    lag: dict[str, float] = field(default_factory=dict)
    dead_lettered: float = 0.0


@dataclass(frozen=True)
class Red:
    rate: float  # requests per second
    errors: float  # 5xx per second
    p50_ms: float | None
    p95_ms: float | None


def parse_metrics(text: str, at: float) -> Scrape:
    scrape = Scrape(at=at)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("route") in QUIET:
                continue
            if sample.name == "http_requests_total":
                scrape.requests += sample.value
            elif sample.name == "http_server_errors_total":
                scrape.errors += sample.value
            elif sample.name == "http_request_duration_seconds_bucket":
                le = float(labels["le"])
                scrape.buckets[le] = scrape.buckets.get(le, 0.0) + sample.value
            elif sample.name == "msgen_outbox_pending":
                scrape.outbox_pending = (scrape.outbox_pending or 0.0) + sample.value
            elif sample.name == "msgen_consumer_lag_messages":
                scrape.lag[labels.get("topic", "")] = sample.value
            elif sample.name == "msgen_messages_dead_lettered_total":
                scrape.dead_lettered += sample.value
    return scrape


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of a cumulative histogram (Prometheus' histogram_quantile: linear within a bucket)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width else 0.0)
        lower_bound, lower_count = bound, count
    return lower_bound


def red_between(old: Scrape, new: Scrape) -> Red:
    seconds = max(new.at - old.at, 1e-6)
    deltas = sorted((le, max(new.buckets.get(le, 0.0) - old.buckets.get(le, 0.0), 0.0)) for le in new.buckets)
    p50, p95 = _quantile(deltas, 0.5), _quantile(deltas, 0.95)
    return Red(
        rate=max(new.requests - old.requests, 0.0) / seconds,
        errors=max(new.errors - old.errors, 0.0) / seconds,
        p50_ms=p50 * 1000 if p50 is not None else None,
        p95_ms=p95 * 1000 if p95 is not None else None,
    )


class Collector:
    """Polls every service every `interval` seconds in a thread; keeps the last minutes of RED figures."""

    def __init__(
        self,
        targets: list[Target],
        processes: Callable[[], dict[str, dict[str, Any]]],
        *,
        interval: float = 2.0,
        window: float = 10.0,
    ) -> None:
        self.targets = targets
        self.processes = processes  # name -> {"pid": ..., "restarts": ..., "returncode": ...}
        self.interval = interval
        self.window = window
        self.state: dict[str, dict[str, Any]] = {t.name: {"live": None, "ready": None} for t in targets}
        self.history: dict[str, collections.deque[Scrape]] = {
            t.name: collections.deque(maxlen=int(300 / interval) + 1) for t in targets
        }
        self.series: dict[str, collections.deque[dict[str, Any]]] = {
            t.name: collections.deque(maxlen=int(300 / interval) + 1) for t in targets
        }
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._wanted_until = 0.0  # polls only while a page looks (idle otherwise: two cores are shared)
        self._thread = threading.Thread(target=self._run, name="dashboard-collector", daemon=True)
        self._client = httpx.Client(timeout=1.5)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._client.close()

    def wanted(self, for_seconds: float = 30.0) -> None:
        """A page asked for the figures: poll (now, if idle) for the next `for_seconds`."""
        idle = time.monotonic() > self._wanted_until
        self._wanted_until = time.monotonic() + for_seconds
        if idle:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() <= self._wanted_until:
                for target in self.targets:
                    if self._stop.is_set():
                        return
                    if target.url is not None:
                        self._poll(target)
            self._wake.wait(self.interval)
            self._wake.clear()

    def _get(self, url: str) -> httpx.Response | None:
        try:
            return self._client.get(url)
        except httpx.HTTPError:
            return None

    def _poll(self, target: Target) -> None:
        state = self.state[target.name]
        live = self._get(f"{target.url}/health/live")
        ready = self._get(f"{target.url}/health/ready")
        state["live"] = live is not None and live.status_code == 200
        state["ready"] = ready is not None and ready.status_code == 200
        metrics = self._get(f"{target.url}/metrics")
        if metrics is None or metrics.status_code != 200:
            return
        try:
            scrape = parse_metrics(metrics.text, time.monotonic())
        except ValueError:
            return
        history = self.history[target.name]
        history.append(scrape)
        older = next((s for s in history if scrape.at - s.at <= self.window and s is not scrape), None)
        if older is not None:
            red = red_between(older, scrape)
            state["red"] = red.__dict__
            self.series[target.name].append({"t": time.time(), **red.__dict__})
        state["outbox_pending"] = scrape.outbox_pending
        state["lag"] = scrape.lag
        state["dead_lettered"] = scrape.dead_lettered

    def services(self) -> list[dict[str, Any]]:
        processes = self.processes()
        rows = []
        for target in self.targets:
            process = processes.get(target.name, {})
            state = self.state[target.name]
            rows.append(
                {
                    "name": target.name,
                    "url": target.url or (f"nats://127.0.0.1:{target.port}" if target.port else None),
                    "pid": process.get("pid"),
                    "restarts": process.get("restarts", 0),
                    "exited": process.get("returncode"),
                    "live": state.get("live") if target.url else process.get("pid") is not None,
                    "ready": state.get("ready") if target.url else process.get("pid") is not None,
                    "red": state.get("red"),
                    "outbox_pending": state.get("outbox_pending"),
                    "lag": state.get("lag", {}),
                    "dead_lettered": state.get("dead_lettered"),
                    "series": list(self.series[target.name])[-60:],
                }
            )
        return rows
