"""The system as a diagram: Mermaid text, Graphviz DOT, or an SVG/PNG image drawn without Graphviz.

The image is laid out by grandalf (a layered, Sugiyama-style layout in pure Python), written as SVG
by drawsvg and, for PNG, rasterised by resvg (the resvg-py wheel: no system library needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msgen import model as m
from msgen.errors import MsgenError


class GraphError(MsgenError):
    """The diagram asked for does not exist (exit code 2)."""

    exit_code = 2


def _public_paths(service: m.Service) -> str:
    """The gateway edge's label: the public paths the service answers, e.g. `/v1/orders`."""
    roots = dict.fromkeys("/".join(op.path.split("/")[:3]) for op in service.operations)
    return "HTTP " + ", ".join(roots)


def mermaid(system: m.System) -> str:
    """A Mermaid flowchart of services, their databases, calls and events (one diagram, as Mermaid wants)."""
    lines = ["flowchart LR", '  client([client]) -- "HTTP, bearer token" --> gateway{{gateway}}']
    for s in system.services:
        lines.append(f"  {s.name}[{s.name}]")
        lines.append(f"  {s.name}_db[({s.name} db)]")
        lines.append(f"  {s.name} --- {s.name}_db")
        if s.operations:
            lines.append(f'  gateway -- "{_public_paths(s)}" --> {s.name}')
    for s in system.services:
        for call in s.calls:
            lines.append(f'  {s.name} -- "{call.operation}" --> {call.service}')
    for event in system.events:
        for consumer in event.consumers:
            lines.append(f'  {event.publisher} -. "{event.name}" .-> {consumer}')
    lines += [
        "  subgraph legend [legend]",
        "    direction LR",
        '    legend_caller[service] -- "operation: an HTTP call" --> legend_callee[service]',
        '    legend_publisher[service] -. "event: published, consumed" .-> legend_consumer[service]',
        "    legend_owner[service] --- legend_db[(its own database)]",
        "  end",
    ]
    return "\n".join(lines) + "\n"


def saga_sequence(saga: m.Saga, system: m.System) -> str:
    """A Mermaid sequence diagram of one saga: each event drawn from the service that publishes it, then
    the compensations with every event that triggers them."""
    publisher = {e.name: e.publisher for e in system.events}
    orchestrator = saga.orchestrator
    lines = ["sequenceDiagram", f"  title saga {saga.name}", f"  participant {orchestrator}"]
    for service in dict.fromkeys(step.service for step in saga.steps):
        if service != orchestrator:
            lines.append(f"  participant {service}")
    lines.append(f"  Note over {publisher.get(saga.start, orchestrator)}: publishes {saga.start}")
    for step in saga.steps:
        if step.call is not None:
            lines.append(f"  {orchestrator}->>{step.service}: calls {step.call} ({step.name})")
            lines.append(f"  {step.service}-->>{orchestrator}: 2xx answer")
            lines.append(f"  {step.service}--x{orchestrator}: 4xx refusal")
        else:
            lines.append(
                f"  {publisher.get(step.trigger, orchestrator)}->>{step.service}: {step.trigger} ({step.name})"
            )
            lines.append(f"  {publisher.get(step.success, step.service)}-->>{orchestrator}: {step.success}")
            if step.failure:
                lines.append(f"  {publisher.get(step.failure, step.service)}--x{orchestrator}: {step.failure}")
        if step.publishes:
            lines.append(f"  Note over {orchestrator}: publishes {', '.join(step.publishes)}")
    lines.append(f"  Note over {orchestrator}: all done: publishes {saga.on_success}")
    compensated = [step for step in saga.steps if step.compensation_triggers]
    lines.append(f"  opt a step failed or timed out: publishes {saga.on_failure}")
    for step in reversed(compensated):
        for trigger in step.compensation_triggers:
            lines.append(f"    {publisher.get(trigger, orchestrator)}->>{step.service}: {trigger} (undo {step.name})")
        if step.compensation_done:
            done = step.compensation_done
            lines.append(f"    {publisher.get(done, step.service)}-->>{orchestrator}: {done}")
    if not compensated:
        lines.append(f"    Note over {orchestrator}: nothing to undo")
    lines.append("  end")
    return "\n".join(lines) + "\n"


def markdown(system: m.System) -> str:
    """Every diagram, each in its own ```mermaid block: the flowchart, then one sequence diagram per saga."""
    parts = [f"# {system.name}\n", "```mermaid\n" + mermaid(system) + "```\n"]
    for saga in system.sagas:
        parts.append(f"## Saga {saga.name}\n")
        parts.append("```mermaid\n" + saga_sequence(saga, system) + "```\n")
    return "\n".join(parts)


def saga(system: m.System, name: str) -> m.Saga:
    """The saga called `name`, or an error that lists the others."""
    for candidate in system.sagas:
        if candidate.name == name:
            return candidate
    known = ", ".join(s.name for s in system.sagas) or "none"
    raise GraphError(f"no saga '{name}' in {system.name} (its sagas: {known})")


def dot(system: m.System) -> str:
    lines = [f'digraph "{system.name}" {{', "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    lines.append("  client [shape=oval];")
    lines.append("  gateway [shape=hexagon];")
    lines.append('  client -> gateway [label="HTTP, bearer token"];')
    for s in system.services:
        lines.append(f'  "{s.name}";')
        if s.operations:
            lines.append(f'  gateway -> "{s.name}" [label="{_public_paths(s)}"];')
    for s in system.services:
        for call in s.calls:
            lines.append(f'  "{s.name}" -> "{call.service}" [label="{call.operation}"];')
    for event in system.events:
        for consumer in event.consumers:
            lines.append(f'  "{event.publisher}" -> "{consumer}" [label="{event.name}", style=dashed];')
    lines += [
        "  subgraph cluster_legend {",
        '    label="legend";',
        '    legend_caller [label="service"]; legend_callee [label="service"];',
        '    legend_caller -> legend_callee [label="operation: an HTTP call"];',
        '    legend_publisher [label="service"]; legend_consumer [label="service"];',
        '    legend_publisher -> legend_consumer [label="event: published, consumed", style=dashed];',
        "  }",
    ]
    lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass
class _Box:
    """A node's size for grandalf (its `view`); grandalf sets `xy`, the centre."""

    w: float
    h: float
    xy: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Path:
    """An edge's route for grandalf (its `view`): the points it sets through `setpath`."""

    points: list[tuple[float, float]] = field(default_factory=list)
    head_angle: float = 0.0

    def setpath(self, points: list[Any]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


@dataclass
class _Link:
    source: str
    target: str
    labels: list[str]
    dashed: bool


FONT = 13  # px; a character is about 0.6 em wide in the sans-serif fonts resvg and browsers pick
MARGIN = 24


def _text_width(text: str) -> float:
    return len(text) * FONT * 0.6


def _links(system: m.System) -> list[_Link]:
    """The diagram's edges, one per (source, target, kind) with every label it carries."""
    found: dict[tuple[str, str, bool], list[str]] = {("client", "gateway", False): ["HTTP, bearer token"]}
    for s in system.services:
        if s.operations:
            found.setdefault(("gateway", s.name, False), []).append(_public_paths(s))
    for s in system.services:
        for call in s.calls:
            found.setdefault((s.name, call.service, False), []).append(call.operation)
    for event in system.events:
        for consumer in event.consumers:
            found.setdefault((event.publisher, consumer, True), []).append(event.name)
    return [_Link(a, b, labels, dashed) for (a, b, dashed), labels in found.items()]


def layout(system: m.System) -> tuple[dict[str, _Box], list[tuple[_Link, list[tuple[float, float]]]]]:
    """Where each node goes (client, gateway, every service) and the route of each edge, top to bottom."""
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout
    from grandalf.routing import route_with_lines

    names = ["client", "gateway", *(s.name for s in system.services)]

    class Node(Vertex):  # type: ignore[misc]
        # grandalf keeps vertices and edges in sets: hashed by their place here rather than by id(),
        # the layout is the same in every run
        def __hash__(self) -> int:
            return names.index(self.data)

    class Link(Edge):  # type: ignore[misc]
        def __hash__(self) -> int:
            return len(names) + links.index(self.data)

    vertices = {name: Node(name) for name in names}
    for name, vertex in vertices.items():
        vertex.view = _Box(w=max(90.0, _text_width(name) + 28), h=36.0)
    links = _links(system)
    edges = []
    for link in links:
        if link.source == link.target or link.source not in vertices or link.target not in vertices:
            continue
        edge = Link(vertices[link.source], vertices[link.target], data=link)
        edge.view = _Path()
        edges.append(edge)
    graph = Graph(list(vertices.values()), edges)
    offset = 0.0
    for component in graph.C:  # side by side, left to right
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = 40, 70  # room for the edges' labels between the layers
        roots = [v for v in component.sV if v.data == "client"] or None
        sugiyama.init_all(roots=roots)
        sugiyama.route_edge = route_with_lines
        sugiyama.draw(3)
        xs = [v.view.xy[0] - v.view.w / 2 for v in component.sV]
        shift = offset - min(xs)
        for v in component.sV:
            v.view.xy = (v.view.xy[0] + shift, v.view.xy[1])
        for e in component.sE:
            e.view.points = [(x + shift, y) for x, y in e.view.points]
        offset = max(v.view.xy[0] + v.view.w / 2 for v in component.sV) + 60
    boxes = {name: vertex.view for name, vertex in vertices.items()}
    routes = []
    for edge in edges:
        points = edge.view.points or [boxes[edge.v[0].data].xy, boxes[edge.v[1].data].xy]
        routes.append((edge.data, points))
    return boxes, routes


def _along(points: list[tuple[float, float]], fraction: float) -> tuple[float, float]:
    """The point `fraction` of the way along a polyline: where its label goes."""
    import itertools
    import math

    lengths = [math.dist(a, b) for a, b in itertools.pairwise(points)]
    left = sum(lengths) * fraction
    for (a, b), length in zip(itertools.pairwise(points), lengths, strict=True):
        if left <= length and length > 0:
            t = left / length
            return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
        left -= length
    return points[0]


def svg(system: m.System) -> str:
    """The services, the gateway in front of them, their calls (solid) and events (dashed) as SVG."""
    import drawsvg

    boxes, routes = layout(system)
    label_boxes = []
    pairs = {(link.source, link.target) for link, _ in routes}
    for link, points in routes:
        # two edges between the same services share a route: each label nearer its own edge's source
        fraction = 0.3 if (link.target, link.source) in pairs else 0.5
        label_boxes.append((link, _along(points, fraction), ", ".join(link.labels)))
    xs = [b.xy[0] - b.w / 2 for b in boxes.values()] + [c[0] - _text_width(t) / 2 for _, c, t in label_boxes]
    xe = [b.xy[0] + b.w / 2 for b in boxes.values()] + [c[0] + _text_width(t) / 2 for _, c, t in label_boxes]
    ys = [b.xy[1] - b.h / 2 for b in boxes.values()]
    ye = [b.xy[1] + b.h / 2 for b in boxes.values()]
    legend_h = 60
    left, top = min(xs) - MARGIN, min(ys) - MARGIN - FONT * 2
    width = max(max(xe) - left + MARGIN, 420)
    height = max(ye) - top + MARGIN + legend_h
    drawing = drawsvg.Drawing(width, height, origin=(left, top), font_family="sans-serif", font_size=FONT)
    drawing.append(drawsvg.Rectangle(left, top, width, height, fill="white"))
    drawing.append(drawsvg.Text(system.name, FONT + 3, left + MARGIN, top + MARGIN, font_weight="bold"))
    arrow = drawsvg.Marker(-1.1, -0.5, 0.1, 0.5, scale=8, orient="auto")  # its tip on the line's end
    arrow.append(drawsvg.Lines(-1, -0.5, -1, 0.5, 0, 0, fill="#444", close=True))
    for name, box in boxes.items():
        x, y = box.xy
        kind = name if name in ("client", "gateway") else "service"
        rounding = box.h / 2 if name == "client" else 8
        fill = {"client": "#f3f3f3", "gateway": "#fff4d6"}.get(name, "#e8f0fe")
        group = drawsvg.Group(class_=kind, id=f"node-{name}")
        group.append(
            drawsvg.Rectangle(
                x - box.w / 2, y - box.h / 2, box.w, box.h, rx=rounding, fill=fill, stroke="#335", stroke_width=1.2
            )
        )
        group.append(drawsvg.Text(name, FONT, x, y, text_anchor="middle", dominant_baseline="central"))
        drawing.append(group)
    for link, points in routes:
        flat = [coordinate for point in points for coordinate in point]
        drawing.append(
            drawsvg.Lines(
                *flat,
                fill="none",
                stroke="#444",
                stroke_width=1.3,
                stroke_dasharray="6,4" if link.dashed else None,
                marker_end=arrow,
                class_="event" if link.dashed else "call",
            )
        )
    for _, (cx, cy), text in label_boxes:
        w = _text_width(text)
        drawing.append(
            drawsvg.Rectangle(cx - w / 2 - 2, cy - FONT / 2 - 2, w + 4, FONT + 4, fill="white", opacity=0.85)
        )
        drawing.append(
            drawsvg.Text(text, FONT - 2, cx, cy, text_anchor="middle", dominant_baseline="central", fill="#222")
        )
    ly = max(ye) + MARGIN + 10
    lx = left + MARGIN
    legend = [("operation: an HTTP call", None), ("event: published, consumed", "6,4")]
    for index, (text, dashes) in enumerate(legend):
        y = ly + index * 22
        drawing.append(
            drawsvg.Line(lx, y, lx + 50, y, stroke="#444", stroke_width=1.3, stroke_dasharray=dashes, marker_end=arrow)
        )
        drawing.append(drawsvg.Text(text, FONT - 1, lx + 62, y, dominant_baseline="central"))
    return str(drawing.as_svg())


def render_image(system: m.System, fmt: str) -> bytes:
    """SVG, or PNG rasterised from it by resvg (a self-contained wheel: no Graphviz, no system library)."""
    text = svg(system)
    if fmt == "svg":
        return text.encode()
    import resvg_py

    try:
        return bytes(resvg_py.svg_to_bytes(svg_string=text, background="white"))
    except ValueError as exc:
        raise MsgenError(f"the PNG could not be drawn: {exc}") from None
