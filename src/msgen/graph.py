"""The system as a diagram: Mermaid text, Graphviz DOT, or SVG/PNG through Graphviz."""

from __future__ import annotations

import shutil
import subprocess

from msgen import model as m
from msgen.errors import MsgenError, ToolMissingError


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


def render_image(system: m.System, fmt: str) -> bytes:
    """SVG or PNG bytes, drawn by Graphviz's `dot`."""
    binary = shutil.which("dot")
    if binary is None:
        raise ToolMissingError(
            f"Graphviz is not installed ('dot' not found): use --format mermaid or dot instead of {fmt}"
        )
    done = subprocess.run([binary, f"-T{fmt}"], input=dot(system).encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise MsgenError(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
