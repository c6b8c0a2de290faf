"""The msgen command line. The only module that prints or picks exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from msgen import __version__
from msgen.errors import MsgenError, SpecError

app = typer.Typer(
    name="msgen",
    help="Generate a production-shaped microservice system from one YAML spec.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

SpecArg = Annotated[
    Path,
    typer.Argument(help="The spec file, e.g. examples/shop.yaml.", show_default=False, dir_okay=False, metavar="SPEC"),
]


def _fail(exc: MsgenError) -> typer.Exit:
    if isinstance(exc, SpecError):
        for diagnostic in exc.diagnostics:
            err.print(str(diagnostic), markup=False)
        count = len(exc.diagnostics)
        err.print(f"{count} problem{'s' if count != 1 else ''} found; nothing was written.", markup=False)
    else:
        err.print(f"error: {exc}", markup=False)
    return typer.Exit(exc.exit_code)


def _version(value: bool) -> None:
    if value:
        out.print(f"msgen {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Generate a production-shaped microservice system from one YAML spec.

    Example: [bold]msgen new examples/shop.yaml -o shop[/bold]
    """


@app.command()
def new(
    spec: SpecArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to create.")] = Path("out"),
    force: Annotated[
        bool, typer.Option("--force", help="Write even into a non-empty directory msgen did not generate.")
    ] = False,
) -> None:
    """Generate a new project from SPEC.

    Example: [bold]msgen new examples/shop.yaml -o shop[/bold]
    """
    from msgen.generate import generate
    from msgen.writer import write_project

    try:
        result = generate(spec)
        written = write_project(output, result.files, result.system.spec_hash, force=force)
    except MsgenError as exc:
        raise _fail(exc) from None
    system = result.system
    out.print(
        f"Generated [bold]{system.name}[/bold]: {len(system.services)} services, {len(system.events)} events, "
        f"{len(system.sagas)} sagas, {written.written} files in {output}"
    )
    out.print(f"Next: [bold]cd {output}/services/{system.services[0].name} && python -m pytest[/bold]")


@app.command()
def validate(spec: SpecArg) -> None:
    """Check SPEC and report every problem as file:line:col: message.

    Example: [bold]msgen validate examples/shop.yaml[/bold]
    """
    from msgen.generate import load_system

    try:
        system = load_system(spec)
    except MsgenError as exc:
        raise _fail(exc) from None
    table = Table(title=f"{spec}: valid", show_edge=False)
    for column in ("service", "entities", "operations", "calls", "publishes", "consumes"):
        table.add_column(column)
    for s in system.services:
        table.add_row(
            s.name,
            ", ".join(e.name for e in s.entities),
            str(len(s.operations)),
            ", ".join(f"{c.service}.{c.operation}" for c in s.calls),
            ", ".join(s.publishes),
            ", ".join(s.consumes),
        )
    out.print(table)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of the spec language (for editor completion and checks).

    Example: [bold]msgen schema -o msgen-spec.v1.json[/bold]
    """
    from msgen.schema import spec_json_schema_text

    text = spec_json_schema_text()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


@app.command()
def graph(
    spec: SpecArg,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="mermaid, dot, svg or png (svg and png need Graphviz).")
    ] = "mermaid",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Draw the services, calls, events and sagas of SPEC.

    Example: [bold]msgen graph examples/shop.yaml > shop.mmd[/bold]
    """
    from msgen import graph as graphs
    from msgen.generate import load_system

    if fmt not in ("mermaid", "dot", "svg", "png"):
        err.print(f"error: unknown format '{fmt}': use mermaid, dot, svg or png", markup=False)
        raise typer.Exit(2)
    try:
        system = load_system(spec)
        if fmt in ("svg", "png"):
            data = graphs.render_image(system, fmt)
        else:
            data = (graphs.mermaid(system) if fmt == "mermaid" else graphs.dot(system)).encode()
    except MsgenError as exc:
        raise _fail(exc) from None
    if output is not None:
        output.write_bytes(data)
    elif fmt in ("svg", "png") and sys.stdout.isatty():
        err.print("error: refusing to print an image to a terminal: use --output FILE", markup=False)
        raise typer.Exit(1)
    else:
        sys.stdout.buffer.write(data)


@app.command()
def serve(
    project: Annotated[Path, typer.Argument(help="A project made by msgen new.", file_okay=False)],
    service: Annotated[str, typer.Argument(help="The service to run, e.g. product.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database_url: Annotated[
        str | None, typer.Option(help="The service's database (default: a SQLite file in its folder).")
    ] = None,
) -> None:
    """Run one generated service locally: apply its migrations, then serve it with uvicorn.

    Example: [bold]msgen serve shop product --port 8000[/bold]
    """
    from msgen.local import find_service
    from msgen.local import serve as run

    try:
        found = find_service(project, service)
    except MsgenError as exc:
        raise _fail(exc) from None
    base = f"http://{host}:{port}"
    err.print(f"Serving [bold]{found.name}[/bold] on {base} (Ctrl-C stops it). Try:")
    err.print(f"  curl -s {base}/health/ready", markup=False)
    err.print(f"  open {base}/docs", markup=False)
    run(found, host=host, port=port, database_url=database_url)


@app.command()
def deploy(
    project: Annotated[Path, typer.Argument(help="A project made by msgen new.", file_okay=False)] = Path("."),
    k8s: Annotated[bool, typer.Option("--k8s", help="Deploy to Kubernetes (the only target so far).")] = False,
    overlay: Annotated[str, typer.Option(help="The kustomize overlay: dev or prod.")] = "prod",
    context: Annotated[str | None, typer.Option(help="The kubectl context (default: the current one).")] = None,
    namespace: Annotated[str | None, typer.Option(help="Deploy into this namespace instead of the overlay's.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build and validate only; apply nothing.")] = False,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the validated manifests to this file.")
    ] = None,
) -> None:
    """Build a kustomize overlay of PROJECT, validate it, apply it server-side and wait for the rollouts.

    Example: [bold]msgen deploy --k8s shop --overlay prod --dry-run --out all.yaml[/bold]
    """
    from msgen import deploy as k8s_deploy

    if not k8s:
        err.print("error: choose a target: --k8s (the only one so far)", markup=False)
        raise typer.Exit(2)
    try:
        built = k8s_deploy.render_and_validate(project, overlay, namespace)
        summary = ", ".join(f"{count} {kind}" for kind, count in built.kinds().items())
        err.print(f"{overlay}: {len(built.documents)} resources built and valid ({summary})", markup=False)
        if output is not None:
            output.write_text(built.text)
            err.print(f"wrote {output}", markup=False)
        if dry_run:
            if output is None:
                sys.stdout.write(built.text)
            return
        k8s_deploy.apply(built, context=context, progress=lambda line: err.print(line, markup=False))
    except MsgenError as exc:
        raise _fail(exc) from None
    err.print(f"{overlay} is deployed and every rollout finished", markup=False)


@app.command()
def dlq(
    url: Annotated[str, typer.Argument(help="A running service, e.g. http://127.0.0.1:8001.")],
    replay: Annotated[list[str] | None, typer.Option("--replay", help="Replay this dead letter (repeatable).")] = None,
    replay_all: Annotated[bool, typer.Option("--replay-all", help="Replay every dead letter.")] = False,
) -> None:
    """List a service's dead letters, or replay them through their handlers.

    Example: [bold]msgen dlq http://127.0.0.1:8001 --replay-all[/bold]
    """
    import httpx

    base = url.rstrip("/")
    try:
        letters = httpx.get(f"{base}/admin/dead-letters", timeout=10).raise_for_status().json()
    except httpx.HTTPError as exc:
        err.print(f"error: cannot list the dead letters of {base}: {exc}", markup=False)
        raise typer.Exit(1) from None
    chosen = [letter["id"] for letter in letters] if replay_all else list(replay or [])
    if not chosen:
        table = Table(title=f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''} at {base}", show_edge=False)
        for column in ("id", "topic", "event", "attempts", "error", "created_at"):
            table.add_column(column)
        for letter in letters:
            table.add_row(
                *(str(letter.get(k, "")) for k in ("id", "topic", "event", "attempts", "error", "created_at"))
            )
        out.print(table)
        return
    failed = 0
    for ident in chosen:
        answer = httpx.post(f"{base}/admin/dead-letters/{ident}/replay", timeout=60)
        outcome = (
            answer.json().get("outcome", answer.text) if answer.status_code == 200 else f"HTTP {answer.status_code}"
        )
        failed += outcome not in ("processed", "duplicate")
        out.print(f"{ident}: {outcome}", markup=False)
    if failed:
        raise typer.Exit(1)
