"""Prometheus rules (with their promtool unit tests), ServiceMonitors and Grafana dashboards.

Every rule and panel uses only metrics the runtime exports (``RUNTIME_METRICS``);
thresholds come from the spec's SLOs. Rules are built once, as data, and
written both as a plain rule file (observability/rules/) and as a
PrometheusRule for the Prometheus Operator (deploy/k8s/base/monitoring.yaml).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from msgen import model as m
from msgen.render.yamltext import Renderer, dump, number

# What msgen_runtime exports, by name (histograms by their series names).
RUNTIME_METRICS = frozenset(
    {
        "http_requests_total",
        "http_server_errors_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
        "cache_hits_total",
        "cache_misses_total",
        "cache_loads_total",
        "http_client_requests_total",
        "msgen_outbox_pending",
        "msgen_outbox_oldest_age_seconds",
        "msgen_consumer_lag_messages",
        "msgen_messages_dead_lettered_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    }
)
# What Prometheus itself records for every target it scrapes (the template services' alerts use it).
SCRAPE_METRICS = frozenset({"up"})
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    duration: str  # the rule's `for`
    severity: str  # page or ticket
    summary: str  # may use {{ $labels.service }} and {{ $labels.topic }}
    description: str
    # promtool test: input series (name{labels} -> values), when to look, the labels expected
    series: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    quiet: dict[str, str] = field(default_factory=dict)  # a healthy input on which it stays silent
    rule_labels: dict[str, str] = field(default_factory=dict)  # set by the rule itself, beside its severity


def _expand(text: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        text = text.replace("{{ $labels." + key + " }}", value)
    return text


def alerts(system: m.System) -> list[Alert]:
    slos = system.slos
    own = [s for s in system.services if s.slo is not None]
    others = [s for s in system.services if s.slo is None]
    svc = (others or system.services)[0].name
    out = [
        Alert(
            name="HighErrorRate",
            expr="sum(rate(http_server_errors_total[5m])) / sum(rate(http_requests_total[5m])) > 0.02",
            duration="10m",
            severity="page",
            summary="Error rate above 2% for 10 minutes",
            description="More than 2% of all requests to the system ended in a 5xx over the last 5 minutes.",
            series=_traffic(svc, 2 * 0.02),
            labels={},
            quiet=_traffic(svc, 0.02 / 2),
        )
    ]
    if others:  # the system's objectives, for every service without its own
        matcher = f'{{service!~"{"|".join(s.name for s in own)}"}}' if own else ""
        out += _slo_alerts(slos.latency_p95, slos.error_rate, slos.availability, svc, matcher)
    for service in own:  # the same alerts, with the service's own objectives
        assert service.slo is not None
        slo = service.slo
        out += [
            replace(alert, rule_labels={"service": service.name})  # a rule of its own, not a duplicate
            for alert in _slo_alerts(
                slo.latency_p95, slo.error_rate, slo.availability, service.name, f'{{service="{service.name}"}}'
            )
        ]
    if system.events:
        event = system.events[0]
        consumer = event.consumers[0] if event.consumers else event.publisher
        where = f'service="{consumer}",topic="{event.topic}"'
        out += [
            Alert(
                name="ConsumerLagHigh",
                expr=f"max by (service, topic) (msgen_consumer_lag_messages) > {slos.consumer_lag}",
                duration="5m",
                severity="ticket",
                summary="{{ $labels.service }} lags on {{ $labels.topic }}",
                description=f"More than {slos.consumer_lag} messages have waited for this consumer for 5 minutes.",
                series={f"msgen_consumer_lag_messages{{{where}}}": f"{slos.consumer_lag * 5}+0x40"},
                labels={"service": consumer, "topic": event.topic},
                quiet={f"msgen_consumer_lag_messages{{{where}}}": "3+0x40"},
            ),
            Alert(
                name="MessagesDeadLettered",
                expr="sum by (service, topic) (increase(msgen_messages_dead_lettered_total[10m])) > 0",
                duration="0s",
                severity="ticket",
                summary="{{ $labels.service }} dead-lettered messages of {{ $labels.topic }}",
                description="Messages could not be processed after their retries and went to the dead-letter topic.",
                series={f"msgen_messages_dead_lettered_total{{{where}}}": "0+0x25 1+0x15"},
                labels={"service": consumer, "topic": event.topic},
                quiet={f"msgen_messages_dead_lettered_total{{{where}}}": "4+0x40"},
            ),
            Alert(
                name="OutboxBacklog",
                expr=f"max by (service) (msgen_outbox_oldest_age_seconds) > {number(slos.outbox_age)}",
                duration="5m",
                severity="page",
                summary="{{ $labels.service }} is not publishing its events",
                description=(
                    f"The oldest unpublished outbox row is more than {number(slos.outbox_age)} seconds old: "
                    "the relay is stuck or the broker unreachable."
                ),
                series={f'msgen_outbox_oldest_age_seconds{{service="{event.publisher}"}}': "600+0x40"},
                labels={"service": event.publisher},
                quiet={f'msgen_outbox_oldest_age_seconds{{service="{event.publisher}"}}': "1+0x40"},
            ),
        ]
    return out + templated_alerts(system)


def _traffic(svc: str, error_ratio: float) -> dict[str, str]:
    """10 requests a second to one route of service `svc`, `error_ratio` of them failing."""
    where = f'service="{svc}",method="GET",route="/x"'
    return {
        f'http_requests_total{{{where},status="200"}}': "0+600x40",
        f'http_server_errors_total{{{where},status="500"}}': f"0+{number(600 * min(error_ratio, 1.0))}x40",
    }


def _slo_alerts(latency_p95: float, error_rate: float, availability: float, svc: str, matcher: str) -> list[Alert]:
    """The objective alerts of the services `matcher` selects (tested on service `svc`)."""
    budget = 1.0 - availability
    # Each scenario sits on the right side of its own threshold: twice above it, or at half of it.
    fast, slow = 6 * budget, budget  # the lower clause of each burn-rate alert
    ratio = "service:http_error_ratio:rate"

    def r(window: str) -> str:
        return f"{ratio}{window}{matcher}"

    return [
        Alert(
            name="ErrorRateAboveSlo",
            expr=f"{r('5m')} > {number(error_rate)}",
            duration="10m",
            severity="ticket",
            summary=f"{{{{ $labels.service }}}}: 5xx ratio above the {number(error_rate * 100)}% SLO",
            description="The service answered more 5xx than its error-rate objective allows for 10 minutes.",
            series=_traffic(svc, 2 * error_rate),
            labels={"service": svc},
            quiet=_traffic(svc, error_rate / 2),
        ),
        Alert(
            name="LatencyP95AboveSlo",
            expr=f"service:http_request_duration_seconds:p95_5m{matcher} > {number(latency_p95)}",
            duration="10m",
            severity="ticket",
            summary=f"{{{{ $labels.service }}}}: p95 latency above {number(latency_p95 * 1000)} ms",
            description="The 95th percentile of request durations has been above the latency objective for 10 minutes.",
            series=_latency_series(svc, slow=True, threshold=latency_p95),
            labels={"service": svc},
            quiet=_latency_series(svc, slow=False, threshold=latency_p95),
        ),
        Alert(
            name="ErrorBudgetBurnFast",
            expr=(
                f"({r('1h')} > {number(14.4 * budget)} and {r('5m')} > {number(14.4 * budget)})"
                f" or ({r('6h')} > {number(6 * budget)} and {r('30m')} > {number(6 * budget)})"
            ),
            duration="2m",
            severity="page",
            summary="{{ $labels.service }} burns its error budget fast",
            description=(
                f"At this rate the {number(availability * 100)}% availability objective's 30-day error budget "
                "is gone in two days (multi-window burn rate: 1h and 5m above 14.4x, or 6h and 30m above 6x)."
            ),
            series=_traffic(svc, 2 * 14.4 * budget),
            labels={"service": svc},
            quiet=_traffic(svc, fast / 2),
        ),
        Alert(
            name="ErrorBudgetBurnSlow",
            expr=(
                f"({r('1d')} > {number(3 * budget)} and {r('2h')} > {number(3 * budget)})"
                f" or ({r('3d')} > {number(budget)} and {r('6h')} > {number(budget)})"
            ),
            duration="15m",
            severity="ticket",
            summary="{{ $labels.service }} burns its error budget",
            description=(
                f"At this rate the {number(availability * 100)}% availability objective's 30-day error budget "
                "runs out before the month ends (1d and 2h above 3x, or 3d and 6h above 1x)."
            ),
            series=_traffic(svc, 2 * 3 * budget),
            labels={"service": svc},
            quiet=_traffic(svc, slow / 2),
        ),
    ]


def templated_alerts(system: m.System) -> list[Alert]:
    """One ServiceDown alert per scraped template service: msgen knows none of its metrics but `up`.

    `absent(up{...} == 1)` also fires when no pod is left to scrape at all.
    """
    scraped = [t.name for t in system.templated if t.metrics_path is not None]
    out: list[Alert] = []
    for name in scraped:
        healthy = {f'up{{service="{other}",job="{other}",pod="{other}-1"}}': "1+0x40" for other in scraped}
        out.append(
            Alert(
                name="ServiceDown",
                expr=f'absent(up{{service="{name}"}} == 1)',
                duration="5m",
                severity="page",
                summary=f"{name}: no instance answers",
                description=(
                    f"Prometheus has scraped no instance of {name} (made from a template) for 5 minutes: "
                    "its pods are down, not ready, or no longer serve their metrics."
                ),
                series={**healthy, f'up{{service="{name}",job="{name}",pod="{name}-1"}}': "0+0x40"},
                labels={"service": name},
                quiet=healthy,
                rule_labels={"service": name},
            )
        )
    return out


def _latency_series(svc: str, *, slow: bool, threshold: float) -> dict[str, str]:
    """Requests that all take about twice (slow) or half (fast) the objective."""
    base = f'http_request_duration_seconds_bucket{{service="{svc}",method="GET",route="/x"'
    lower, upper = (threshold, threshold * 2) if slow else (threshold / 2, threshold)
    return {
        f'{base},le="{number(lower)}"}}': "0+0x40" if slow else "0+100x40",
        f'{base},le="{number(upper)}"}}': "0+100x40",
        f'{base},le="+Inf"}}': "0+100x40",
    }


def rule_groups(system: m.System) -> list[dict[str, Any]]:
    recording: list[dict[str, Any]] = [
        {
            "record": f"service:http_error_ratio:rate{window}",
            "expr": (
                f"sum by (service) (rate(http_server_errors_total[{window}]))"
                f" / sum by (service) (rate(http_requests_total[{window}]))"
            ),
        }
        for window in BURN_WINDOWS
    ]
    recording.append(
        {
            "record": "service:http_request_duration_seconds:p95_5m",
            "expr": "histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m])))",
        }
    )
    rules = [
        {
            "alert": a.name,
            "expr": a.expr,
            "for": a.duration,
            "labels": {"severity": a.severity, **a.rule_labels},
            "annotations": {"summary": a.summary, "description": a.description},
        }
        for a in alerts(system)
    ]
    return [
        {"name": f"{system.name}.slo.recording", "rules": recording},
        {"name": f"{system.name}.alerts", "rules": rules},
    ]


def rule_tests(system: m.System, rule_file: str) -> dict[str, Any]:
    """promtool unit tests: each alert fires on its scenario and stays silent on a healthy one."""
    tests: list[dict[str, Any]] = []
    for a in alerts(system):
        labels = {"alertname": a.name, **a.labels, "severity": a.severity}
        for series, expected in ((a.series, [labels]), (a.quiet, [])):
            tests.append(
                {
                    "name": f"{a.name} {'fires' if expected else 'stays silent'}",
                    "interval": "1m",
                    "input_series": [{"series": s, "values": v} for s, v in series.items()],
                    "alert_rule_test": [
                        {
                            "eval_time": "30m",
                            "alertname": a.name,
                            "exp_alerts": [
                                {
                                    "exp_labels": lab,
                                    "exp_annotations": {
                                        "summary": _expand(a.summary, a.labels),
                                        "description": _expand(a.description, a.labels),
                                    },
                                }
                                for lab in expected
                            ],
                        }
                    ],
                }
            )
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


# -- dashboards ----------------------------------------------------------------


def _panel(panel_id: int, title: str, targets: list[tuple[str, str]], *, unit: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def _dashboard(uid: str, title: str, tags: list[str], panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": tags,
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def _layout(specs: list[tuple[str, list[tuple[str, str]], str]]) -> list[dict[str, Any]]:
    return [
        _panel(i + 1, title, targets, unit=unit, x=(i % 2) * 12, y=(i // 2) * 8)
        for i, (title, targets, unit) in enumerate(specs)
    ]


def service_dashboard(system: m.System, service: m.Service) -> dict[str, Any]:
    """RED (rate, errors, duration) plus the service's cache, calls, outbox, consumers and process."""
    s = f'service="{service.name}"'
    r = "$__rate_interval"
    specs: list[tuple[str, list[tuple[str, str]], str]] = [
        ("Requests by route", [(f"sum by (route) (rate(http_requests_total{{{s}}}[{r}]))", "{{route}}")], "reqps"),
        (
            "5xx ratio",
            [
                (
                    f"sum(rate(http_server_errors_total{{{s}}}[{r}])) / sum(rate(http_requests_total{{{s}}}[{r}]))",
                    "5xx ratio",
                )
            ],
            "percentunit",
        ),
        (
            "Latency",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{s}}}[{r}])))",
                    f"p{p}",
                )
                for q, p in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))
            ],
            "s",
        ),
        ("Responses by status", [(f"sum by (status) (rate(http_requests_total{{{s}}}[{r}]))", "{{status}}")], "reqps"),
        (
            "Cache hit ratio",
            [
                (
                    f"sum by (cache) (rate(cache_hits_total{{{s}}}[{r}])) / (sum by (cache) (rate(cache_hits_total{{{s}}}[{r}]))"
                    f" + sum by (cache) (rate(cache_misses_total{{{s}}}[{r}])))",
                    "{{cache}}",
                )
            ],
            "percentunit",
        ),
        ("Cache loads", [(f"sum by (cache) (rate(cache_loads_total{{{s}}}[{r}]))", "{{cache}}")], "ops"),
    ]
    if service.calls:
        specs.append(
            (
                "Calls to other services",
                [
                    (
                        f"sum by (target, outcome) (rate(http_client_requests_total{{{s}}}[{r}]))",
                        "{{target}} {{outcome}}",
                    )
                ],
                "reqps",
            )
        )
    if service.publishes:
        specs.append(
            (
                "Outbox",
                [
                    (f"max(msgen_outbox_pending{{{s}}})", "pending rows"),
                    (f"max(msgen_outbox_oldest_age_seconds{{{s}}})", "oldest row age (s)"),
                ],
                "short",
            )
        )
    if service.consumes:
        specs.append(
            (
                "Consumer lag and dead letters",
                [
                    (f"max by (topic) (msgen_consumer_lag_messages{{{s}}})", "lag {{topic}}"),
                    (
                        f"sum by (topic) (increase(msgen_messages_dead_lettered_total{{{s}}}[{r}]))",
                        "dead-lettered {{topic}}",
                    ),
                ],
                "short",
            )
        )
    specs += [
        ("CPU", [(f"sum by (pod) (rate(process_cpu_seconds_total{{{s}}}[{r}]))", "{{pod}}")], "short"),
        ("Memory", [(f"sum by (pod) (process_resident_memory_bytes{{{s}}})", "{{pod}}")], "bytes"),
    ]
    return _dashboard(
        f"{system.name}-{service.name}",
        f"{system.name} / {service.name} service",
        [system.name, "msgen", "red"],
        _layout(specs),
    )


def slo_dashboard(system: m.System) -> dict[str, Any]:
    """Availability, error ratio and p95 latency per service, against the spec's objectives."""
    slos = system.slos
    specs: list[tuple[str, list[tuple[str, str]], str]] = [
        (
            f"Availability over 30 days (objective {number(slos.availability * 100)}%)",
            [
                (
                    "1 - sum by (service) (increase(http_server_errors_total[30d]))"
                    " / sum by (service) (increase(http_requests_total[30d]))",
                    "{{service}}",
                )
            ],
            "percentunit",
        ),
        (
            "Error budget left over 30 days",
            [
                (
                    "1 - (sum by (service) (increase(http_server_errors_total[30d]))"
                    f" / sum by (service) (increase(http_requests_total[30d]))) / {number(1 - slos.availability)}",
                    "{{service}}",
                )
            ],
            "percentunit",
        ),
        (
            f"5xx ratio (objective below {number(slos.error_rate * 100)}%)",
            [
                (
                    "sum by (service) (rate(http_server_errors_total[5m])) / sum by (service) (rate(http_requests_total[5m]))",
                    "{{service}}",
                )
            ],
            "percentunit",
        ),
        (
            f"p95 latency (objective below {number(slos.latency_p95 * 1000)} ms)",
            [
                (
                    "histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m])))",
                    "{{service}}",
                )
            ],
            "s",
        ),
        (
            "Error budget burn rate (1h)",
            [
                (
                    "(sum by (service) (rate(http_server_errors_total[1h])) / sum by (service) (rate(http_requests_total[1h])))"
                    f" / {number(1 - slos.availability)}",
                    "{{service}}",
                )
            ],
            "short",
        ),
    ]
    if system.events:
        specs.append(
            (
                "Consumer lag (messages)",
                [("max by (service, topic) (msgen_consumer_lag_messages)", "{{service}} {{topic}}")],
                "short",
            )
        )
    return _dashboard(f"{system.name}-slo", f"{system.name} / SLOs", [system.name, "msgen", "slo"], _layout(specs))


def render_observability(system: m.System, r: Renderer) -> dict[str, str]:
    """observability/ (rules, rule tests, dashboards) and deploy/k8s/base/monitoring.yaml."""
    groups = rule_groups(system)
    rule_file = f"{system.name}.rules.yaml"
    header = (
        f"# Generated by msgen from msgen.yaml: alerts derived from the SLOs. Tests: {system.name}.rules.test.yaml\n"
    )
    files = {
        f"observability/rules/{rule_file}": header + dump({"groups": groups}),
        f"observability/rules/{system.name}.rules.test.yaml": (
            f"# promtool test rules {system.name}.rules.test.yaml (run from this folder)\n"
            + dump(rule_tests(system, rule_file))
        ),
        f"observability/dashboards/{system.name}-slo.json": json.dumps(slo_dashboard(system), indent=2) + "\n",
    }
    for service in system.services:
        files[f"observability/dashboards/{system.name}-{service.name}.json"] = (
            json.dumps(service_dashboard(system, service), indent=2) + "\n"
        )
    files["deploy/k8s/base/monitoring.yaml"] = r.render(
        "deploy/k8s/monitoring.yaml.j2", system=system, groups=groups, apps=_scraped(system)
    )
    return files


@dataclass(frozen=True)
class ScrapedApp:
    """An app the Prometheus Operator scrapes (a ServiceMonitor): its service name, its pods' app label, its path."""

    name: str
    app: str
    path: str


def _scraped(system: m.System) -> tuple[ScrapedApp, ...]:
    apps = [ScrapedApp(s.name, s.kebab, "/metrics") for s in system.services]
    apps += [ScrapedApp(t.name, t.kebab, t.metrics_path) for t in system.templated if t.metrics_path]
    return (*apps, ScrapedApp("gateway", "gateway", "/metrics"))
