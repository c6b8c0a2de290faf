"""The msgen command line. The only module that prints or picks exit codes."""

from __future__ import annotations

import errno
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup
from typer.exceptions import TyperException

from msgen import __version__
from msgen.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    MsgenError,
    SpecError,
    printable,
)


class _Handled(TyperGroup):
    """The one place where what a command raises becomes a one-line message and an exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # typer's own exits and usage errors
            raise
        except MsgenError as exc:
            raise _fail(exc) from None
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # click closes a broken pipe quietly
            err.print(f"error: {_os_error(exc)}", markup=False)
            raise typer.Exit(EXIT_ENVIRONMENT) from None
        except Exception as exc:
            err.print(
                printable(
                    f"internal error: {type(exc).__name__}: {exc}; this is a bug in msgen {__version__}, "
                    "please report it with the command and the spec that caused it"
                ),
                markup=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None


def _shown(value: object) -> str:
    """A value for a rich message: control characters escaped, no markup in it."""
    return escape(printable(str(value)))


def _os_error(exc: OSError) -> str:
    """An OSError as 'path: reason' (or 'path -> other: reason'), on one line."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return printable(reason)
    where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return printable(f"{where}: {reason}")


app = typer.Typer(
    name="msgen",
    help="Generate a production-shaped microservice system from one YAML spec.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    cls=_Handled,
)
# emoji=False: rich would print a position such as 'shop.yaml:100:24:' as 'shop.yaml💯24:'.
out = Console(soft_wrap=True, highlight=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)

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
        # an internal error carries a tool's report, one problem a line; any other message is one line
        internal = exc.exit_code == EXIT_INTERNAL
        text = f"{'internal error' if internal else 'error'}: {exc}"
        for line in text.splitlines() if internal else [text]:
            err.print(printable(line), markup=False)
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
        bool,
        typer.Option(
            "--force", help="Write into a non-empty directory anyway (overwriting files msgen generates there)."
        ),
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
        f"{len(system.sagas)} sagas, {written.written} files in {_shown(output)}"
    )
    out.print(f"Next: [bold]cd {_shown(output)}/services/{system.services[0].name} && python -m pytest[/bold]")


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
    table = Table(title=f"{_shown(spec)}: valid", show_edge=False)
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
        str,
        typer.Option("--format", "-f", help="mermaid, markdown, dot, svg or png (svg and png need Graphviz)."),
    ] = "mermaid",
    saga: Annotated[
        str | None, typer.Option("--saga", help="With mermaid: the sequence diagram of this saga instead.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Draw the services, calls, events and sagas of SPEC.

    mermaid is the flowchart of services, calls and events (or, with --saga, one saga's
    sequence diagram); markdown holds every diagram, each in its own mermaid block.

    Example: [bold]msgen graph examples/shop.yaml > shop.mmd[/bold]
    """
    from msgen import graph as graphs
    from msgen.generate import load_system

    if fmt not in ("mermaid", "markdown", "dot", "svg", "png"):
        err.print(f"error: unknown format '{fmt}': use mermaid, markdown, dot, svg or png", markup=False)
        raise typer.Exit(2)
    if saga is not None and fmt != "mermaid":
        err.print("error: --saga draws a Mermaid sequence diagram: use it with --format mermaid", markup=False)
        raise typer.Exit(2)
    try:
        system = load_system(spec)
        if fmt in ("svg", "png"):
            data = graphs.render_image(system, fmt)
        elif fmt == "mermaid":
            text = graphs.saga_sequence(graphs.saga(system, saga)) if saga is not None else graphs.mermaid(system)
            data = text.encode()
        else:
            data = (graphs.markdown(system) if fmt == "markdown" else graphs.dot(system)).encode()
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
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="MSGEN_ADMIN_TOKEN",
            help="The service's ADMIN_TOKEN (default: the one msgen up made for --project).",
        ),
    ] = None,
    project: Annotated[
        Path, typer.Option("--project", help="The project run by msgen up, for its admin token.", file_okay=False)
    ] = Path("."),
) -> None:
    """List a service's dead letters, or replay them through their handlers.

    Example: [bold]msgen dlq http://127.0.0.1:8001 --replay-all[/bold]
    """
    import httpx

    from msgen.localrun import read_local_admin_token

    base = url.rstrip("/")
    if token is None:
        token = read_local_admin_token(project)  # refused through a link: never read from outside the project
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        letters = httpx.get(f"{base}/admin/dead-letters", headers=headers, timeout=10).raise_for_status().json()
    except httpx.HTTPError as exc:
        err.print(f"error: cannot list the dead letters of {base}: {exc}", markup=False)
        raise typer.Exit(1) from None
    chosen = [letter["id"] for letter in letters] if replay_all else list(replay or [])
    if not chosen:
        table = Table(
            title=f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''} at {_shown(base)}", show_edge=False
        )
        for column in ("id", "topic", "event", "attempts", "error", "created_at"):
            table.add_column(column)
        for letter in letters:
            table.add_row(
                *(_shown(letter.get(k, "")) for k in ("id", "topic", "event", "attempts", "error", "created_at"))
            )
        out.print(table)
        return
    failed = 0
    for ident in chosen:
        answer = httpx.post(f"{base}/admin/dead-letters/{ident}/replay", headers=headers, timeout=60)
        outcome = (
            answer.json().get("outcome", answer.text) if answer.status_code == 200 else f"HTTP {answer.status_code}"
        )
        failed += outcome not in ("processed", "duplicate")
        out.print(f"{ident}: {outcome}", markup=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def up(
    project: Annotated[Path, typer.Argument(help="A project made by msgen new.", file_okay=False)] = Path("."),
    demo: Annotated[
        bool, typer.Option("--demo", help="Place an order, follow it to its end, print the saga, then stop.")
    ] = False,
    broker: Annotated[
        str | None, typer.Option("--broker", help="Use this broker instead of a local nats-server.")
    ] = None,
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="A PostgreSQL server URL: one database per service on it.")
    ] = None,
    redis: Annotated[str | None, typer.Option("--redis", help="A Redis URL for caches and rate limits.")] = None,
    smtp: Annotated[str | None, typer.Option("--smtp", help="HOST:PORT of an SMTP server for the mails.")] = None,
) -> None:
    """Run the whole system locally: nats-server, every service, the gateway; Ctrl-C stops it all.

    Example: [bold]msgen up shop --demo[/bold]
    """
    from msgen.localrun import Options, RunError
    from msgen.up import run

    smtp_target = None
    if smtp:
        host, _, port = smtp.partition(":")
        if port and not port.isdigit():
            raise _fail(MsgenError(f"--smtp {smtp}: expected HOST or HOST:PORT"))
        smtp_target = (host or "127.0.0.1", int(port or 25))
    options = Options(
        workdir=(project / ".msgen" / "run").resolve(),
        broker_url=broker,
        postgres_url=postgres,
        redis_url=redis,
        smtp=smtp_target,
        internal_auth_secret=secrets.token_urlsafe(32),  # this run's: the gateway's calls carry its tokens
    )
    try:
        result = run(project, options, console=err, demo=demo, token=_dev_token_minter(project))
    except (MsgenError, RunError) as exc:
        raise _fail(exc) from None
    if result.failed:
        raise typer.Exit(1)
    if demo and result.demo_status != result.demo_expected:
        raise typer.Exit(1)


def _dev_token_minter(project: Path) -> Callable[[list[str]], str] | None:
    """A function minting dev tokens for the project's gateway, when it has one."""
    try:
        from msgen_runtime.gateway.devtokens import mint
    except ImportError:
        return None
    if not (project / "gateway").is_dir():
        return None

    def minter(scopes: list[str]) -> str:
        return str(mint(project, scopes=scopes, sub="demo-user", ttl=600))

    return minter


# -- regen, diff, add-service: living with the generated code --------------------------

if TYPE_CHECKING:
    import msgen.regen as regen_plan

ProjectDirArg = Annotated[
    Path, typer.Argument(help="A project made by msgen new (default: the current directory).", file_okay=False)
]
RegenSpecOption = Annotated[
    Path | None,
    typer.Option("--spec", help="Render from this spec instead of the project's msgen.yaml.", dir_okay=False),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Write even when the project's git work tree has uncommitted changes.")
]
_CHANGE_STYLE = {
    "added": "green",
    "updated": "cyan",
    "merged": "yellow",
    "conflict": "bold red",
    "removed": "magenta",
    "orphaned": "dim",
    "not recreated": "dim",
}


def _changes_table(plan: regen_plan.Plan, title: str) -> Table:
    from msgen.regen import WHY

    table = Table(title=title, show_edge=False)
    for column in ("file", "change", "why"):
        table.add_column(column)
    for change in plan.changes:
        style = _CHANGE_STYLE.get(change.action, "")
        table.add_row(_shown(change.path), f"[{style}]{change.action}[/{style}]", WHY[change.action])
    return table


def _print_changes(console: Console, plan: regen_plan.Plan, title: str) -> None:
    # Paths are never cut: the table is as wide as its longest row needs, terminal or not.
    needed = max((len(c.path) for c in plan.changes), default=0) + 80
    wide = Console(
        file=console.file,
        width=max(console.width, needed),
        color_system=console.color_system,  # type: ignore[arg-type]
        force_terminal=console.is_terminal,
        soft_wrap=True,
        highlight=False,
        emoji=False,
    )
    wide.print(_changes_table(plan, title))


def _counts(plan: regen_plan.Plan) -> str:
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    return ", ".join(f"{n} {action}" for action, n in counts.items())


def _report_regen(plan: regen_plan.Plan, project: Path) -> None:
    if not plan.changes:
        out.print(f"Nothing to change: {_shown(project)} is in step with its spec.")
        return
    _print_changes(out, plan, f"msgen regen {_shown(project)}")
    out.print(f"{_counts(plan)}.", markup=False)
    if plan.conflicts:
        err.print(f"{len(plan.conflicts)} file(s) have conflicts, marked <<<<<<< yours ... >>>>>>> generated now:")
        for path in plan.conflicts:
            err.print(f"  {path}", markup=False)
        err.print("Resolve them, then run msgen diff to check that the project is in step.", markup=False)
        raise typer.Exit(1)


@app.command()
def regen(
    project: ProjectDirArg = Path("."),
    spec: RegenSpecOption = None,
    force: ForceOption = False,
) -> None:
    """Generate PROJECT again from its spec, keeping your edits: a 3-way merge per file.

    Files you did not change are replaced, files you changed are merged, and
    where both sides changed the same lines the file gets conflict markers and
    the exit code is 1. A change that breaks a published event schema or API is
    refused (exit code 2) until its version is raised.

    Example: [bold]msgen regen shop[/bold]
    """
    from msgen.regen import regen as run_regen

    try:
        done = run_regen(project, spec=spec, force=force)
    except MsgenError as exc:
        raise _fail(exc) from None
    _report_regen(done, project)


@app.command()
def diff(
    project: ProjectDirArg = Path("."),
    spec: RegenSpecOption = None,
) -> None:
    """Show what msgen regen would change in PROJECT, writing nothing; exit code 1 when it would change something.

    The unified diff goes to standard output, the summary table to standard error.

    Example: [bold]msgen diff shop[/bold]
    """
    from msgen.regen import plan, unified_diff

    try:
        planned = plan(project, spec=spec)
    except MsgenError as exc:
        raise _fail(exc) from None
    for change in planned.writes:
        # a project file is anyone's text: its escape sequences are shown, never played on the terminal
        lines = unified_diff(change).split("\n")
        sys.stdout.write("\n".join("\t".join(printable(part) for part in line.split("\t")) for line in lines))
    if not planned.writes:
        err.print(f"No difference: {_shown(project)} is in step with its spec.")
        if planned.changes:
            _print_changes(err, planned, "kept as they are")
        return
    _print_changes(err, planned, f"msgen regen {_shown(project)} would change")
    err.print(f"{_counts(planned)}.", markup=False)
    raise typer.Exit(1)


contracts_app = typer.Typer(help="Consumer-driven contracts (Pact) of a generated project.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command(name="verify")
def contracts_verify(
    project: ProjectDirArg = Path("."),
    pacts: Annotated[
        Path | None, typer.Option("--pacts", help="Verify the pacts in this folder instead of PROJECT/pacts.")
    ] = None,
) -> None:
    """Replay every pact against its provider, and report per consumer/provider pair; exit code 1 if one fails.

    HTTP interactions run against the provider's app under uvicorn, with each
    provider state stored in a scratch database; messages are built by the
    publisher's own event types through its Avro codec.

    Example: [bold]msgen contracts verify shop[/bold]
    """
    from msgen.contracts import verify_project

    try:
        results = verify_project(project, pacts)
    except MsgenError as exc:
        raise _fail(exc) from None
    if not results:
        out.print(
            f"No pacts in {_shown(project)}: its services neither call one another nor read one another's events."
        )
        return
    table = Table(title=f"Pacts of {_shown(project)}")
    for column in ("consumer", "provider", "interactions", "result"):
        table.add_column(column)
    for r in results:
        verdict = "[green]verified[/green]" if r.passed else "[bold red]FAILED[/bold red]"
        table.add_row(r.consumer, r.provider, str(r.interactions), verdict)
    out.print(table)
    failed = [r for r in results if not r.passed]
    for r in failed:
        err.print(f"\n{r.consumer} -> {r.provider} ({r.pact}):", markup=False)
        err.print(r.output.rstrip(), markup=False)
    if failed:
        err.print(f"{len(failed)} of {len(results)} pairs failed verification.", markup=False)
        raise typer.Exit(1)
    out.print(f"All {len(results)} pairs verified.")


@app.command(name="add-service")
def add_service(
    name: Annotated[str, typer.Argument(help="The new service's name, e.g. review.")],
    project: ProjectDirArg = Path("."),
    entity: Annotated[
        str | None, typer.Option(help="Its first entity (default: the name in PascalCase; '' for none).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Its description.")] = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="Edit this spec instead of the project's msgen.yaml.", dir_okay=False),
    ] = None,
    force: ForceOption = False,
    template: Annotated[
        Path | None,
        typer.Option(help="A Copier or Cookiecutter template (a local folder) that makes the service's code."),
    ] = None,
    engine: Annotated[str | None, typer.Option(help="copier or cookiecutter (default: told by the folder).")] = None,
    port: Annotated[int | None, typer.Option(help="With --template: the port it listens on (8000).")] = None,
    health: Annotated[str | None, typer.Option(help="With --template: its liveness path (/healthz).")] = None,
    ready: Annotated[str | None, typer.Option(help="With --template: its readiness path (/readyz).")] = None,
    prefix: Annotated[str | None, typer.Option(help="With --template: the path prefix the gateway routes.")] = None,
    read_scope: Annotated[
        list[str] | None, typer.Option(help="With --template: a scope GET needs (repeatable).")
    ] = None,
    write_scope: Annotated[
        list[str] | None, typer.Option(help="With --template: a scope writes need (repeatable).")
    ] = None,
    data: Annotated[list[str] | None, typer.Option(help="With --template: an answer, KEY=VALUE (repeatable).")] = None,
    trust: Annotated[bool, typer.Option(help="With --template: run its tasks and hooks (they run code).")] = False,
) -> None:
    """Add service NAME to PROJECT's spec (its comments and order kept) and generate it.

    Example: [bold]msgen add-service review shop[/bold]; from a template:
    [bold]msgen add-service search shop --template ../templates/search[/bold]
    """
    from msgen.add_service import add_service as run_add

    try:
        options = None
        if template is not None:
            from msgen.service_template import template_options

            options = template_options(
                template, engine, port, health, ready, prefix, read_scope, write_scope, data, trust, entity
            )
        done = run_add(project, name, spec=spec, entity=entity, description=description, force=force, template=options)
    except MsgenError as exc:
        raise _fail(exc) from None
    out.print(f"Added service [bold]{_shown(name)}[/bold] to the spec.")
    _report_regen(done, project)


@app.command()
def token(
    scope: Annotated[list[str], typer.Option("--scope", "-s", help="A scope the token grants (repeatable).")],
    project: Annotated[Path, typer.Argument(help="A project made by msgen new.", file_okay=False)] = Path("."),
    sub: Annotated[str, typer.Option("--sub", help="The token's subject (the user).")] = "dev-user",
    ttl: Annotated[str, typer.Option("--ttl", help="How long it is valid: 15m, 1h, 1d ...")] = "1h",
) -> None:
    """Print a JWT signed by the project's dev issuer, which the gateway trusts under msgen up.

    Example: [bold]msgen token --scope orders:create --sub u-1 --ttl 1h shop[/bold]
    """
    try:
        from msgen_runtime.gateway.devtokens import DevIssuerError, mint
    except ImportError as exc:  # pragma: no cover - the gateway runtime ships with msgen
        raise _fail(MsgenError(f"the gateway runtime is missing: {exc}")) from None
    try:
        sys.stdout.write(mint(project, scopes=scope, sub=sub, ttl=ttl) + "\n")
    except (DevIssuerError, ValueError) as exc:
        raise _fail(MsgenError(str(exc))) from None
