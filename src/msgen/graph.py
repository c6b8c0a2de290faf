"""The system as a diagram: Mermaid text, Graphviz DOT, or SVG/PNG through Graphviz."""

from __future__ import annotations

import shutil
import subprocess

from msgen import model as m
from msgen.errors import MsgenError


class GraphError(MsgenError):
    """The diagram asked for does not exist (exit code 2)."""

    exit_code = 2


def mermaid(system: m.System) -> str:
    """A Mermaid flowchart of services, their databases, calls and events (one diagram, as Mermaid wants)."""
    lines = ["flowchart LR", "  client([client]) --> gateway{{gateway}}"]
    for s in system.services:
        lines.append(f"  {s.name}[{s.name}]")
        lines.append(f"  {s.name}_db[({s.name} db)]")
        lines.append(f"  {s.name} --- {s.name}_db")
        if s.operations:
            lines.append(f"  gateway --> {s.name}")
    for s in system.services:
        for call in s.calls:
            lines.append(f'  {s.name} -- "{call.operation}" --> {call.service}')
    for event in system.events:
        for consumer in event.consumers:
            lines.append(f'  {event.publisher} -. "{event.name}" .-> {consumer}')
    return "\n".join(lines) + "\n"


def saga_sequence(saga: m.Saga) -> str:
    """A Mermaid sequence diagram of one saga: its steps, their outcomes and compensations."""
    lines = ["sequenceDiagram", f"  title saga {saga.name}"]
    lines.append(f"  Note over {saga.orchestrator}: publishes {saga.start}")
    for step in saga.steps:
        lines.append(f"  {saga.orchestrator}->>{step.service}: {step.trigger} ({step.name})")
        lines.append(f"  {step.service}-->>{saga.orchestrator}: {step.success}")
        if step.failure:
            lines.append(f"  {step.service}--x{saga.orchestrator}: {step.failure}")
        if step.compensation_trigger:
            done = f", publishes {step.compensation_done}" if step.compensation_done else ""
            lines.append(f"  Note over {step.service}: on {step.compensation_trigger} undoes{done}")
    lines.append(f"  Note over {saga.orchestrator}: {saga.on_success} or {saga.on_failure}")
    return "\n".join(lines) + "\n"


def markdown(system: m.System) -> str:
    """Every diagram, each in its own ```mermaid block: the flowchart, then one sequence diagram per saga."""
    parts = [f"# {system.name}\n", "```mermaid\n" + mermaid(system) + "```\n"]
    for saga in system.sagas:
        parts.append(f"## Saga {saga.name}\n")
        parts.append("```mermaid\n" + saga_sequence(saga) + "```\n")
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
    lines.append("  gateway [shape=hexagon];")
    for s in system.services:
        lines.append(f'  "{s.name}";')
        if s.operations:
            lines.append(f'  gateway -> "{s.name}";')
    for s in system.services:
        for call in s.calls:
            lines.append(f'  "{s.name}" -> "{call.service}" [label="{call.operation}"];')
    for event in system.events:
        for consumer in event.consumers:
            lines.append(f'  "{event.publisher}" -> "{consumer}" [label="{event.name}", style=dashed];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_image(system: m.System, fmt: str) -> bytes:
    """SVG or PNG bytes, drawn by Graphviz's `dot`."""
    binary = shutil.which("dot")
    if binary is None:
        raise MsgenError(f"Graphviz is not installed ('dot' not found): use --format mermaid or dot instead of {fmt}")
    done = subprocess.run([binary, f"-T{fmt}"], input=dot(system).encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise MsgenError(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
