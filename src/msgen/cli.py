"""The msgen command line. The only module that prints or picks exit codes."""

from __future__ import annotations

import atexit
import errno
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.exceptions import TyperException

from msgen import __version__
from msgen.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    MsgenError,
    SpecError,
    printable,
)


class UsageError(MsgenError):
    """A command line msgen refuses before doing anything (exit code 2)."""

    exit_code = EXIT_BAD_INPUT


class _Handled(TyperGroup):
    """The one place where what a command raises becomes a one-line message and an exit code.

    Commands never catch msgen's errors to print them: they raise (a `MsgenError`, a
    `UsageError` for a command line they refuse) and this hook reports every command's.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        return [_plain(param) for param in super().get_params(ctx)]

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        if _Process.alone:  # started without the cycle collector (__main__.py): on for the command itself,
            gc.freeze()  # what start-up made (modules, classes, typer's command) kept out of its passes
            gc.enable()
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


class _Argument(TyperArgument):
    """An argument shown as a word in capitals: SPEC, [PROJECT] (not {SPEC}, nor a type after it)."""

    def _usage_display_name(self) -> str:
        return self.display_name_raw if self.required else f"[{self.display_name_raw}]"

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Option(TyperOption):
    """An option shown with a plain metavar (--ttl TEXT), a flag with none (not <bool>)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag:
            return None
        if self.metavar is not None:
            return self.metavar
        label = self.display_type(ctx).strip("<>")
        label = label.removeprefix("list[").removesuffix("]")
        return {"str": "TEXT", "int": "INTEGER", "float": "NUMBER"}.get(label, label.upper())


class _Command(TyperCommand):
    """Every msgen command: help without typer's type labels (<bool>, <str>) and braces ({SPEC})."""

    def get_params(self, ctx: Any) -> list[Any]:
        return [_plain(param) for param in super().get_params(ctx)]


def _plain(param: Any) -> Any:
    # The same objects, shown differently: their classes only add the display methods above.
    if type(param) is TyperArgument:
        param.__class__ = _Argument
        param.metavar = param.metavar or param.name.upper()
    elif type(param) is TyperOption:
        param.__class__ = _Option
    return param


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


class _Process:
    alone = False  # msgen's own process (__main__.py, through run()): one command, then the end


def run() -> None:
    """The msgen command in a process of its own (__main__.py); tests call `app` itself."""
    _Process.alone = True
    app(prog_name="msgen")


app = typer.Typer(
    name="msgen",
    help="Generate a production-shaped microservice system from one YAML spec.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    cls=_Handled,
)
# The process ends after one command: the garbage collector's last passes over every object
# msgen made (a rendering is hundreds of thousands) only delay the exit, by about 0.1 s.
atexit.register(gc.freeze)

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


@app.command(cls=_Command)
def new(
    spec: SpecArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to create.")] = Path("out"),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty directory anyway; refused if that would overwrite a file that differs "
            "from what msgen generated (your edits: msgen regen keeps them).",
        ),
    ] = False,
    discard_edits: Annotated[
        bool,
        typer.Option("--discard-edits", help="With --force: overwrite edited files too (their edits are lost)."),
    ] = False,
) -> None:
    """Generate a new project from SPEC.

    Example: [bold]msgen new examples/shop.yaml -o shop[/bold]
    """
    from msgen.names import count

    if discard_edits and not force:
        raise UsageError("--discard-edits goes with --force")
    with _no_cycle_collection():  # the generator's imports too: a third of the passes came during them
        from msgen.generate import generate
        from msgen.writer import write_project

        result = generate(spec)
        written = write_project(output, result.files, result.system.spec_hash, force=force, discard_edits=discard_edits)
    _runtime_wheel(output)
    system = result.system
    out.print(
        f"Generated [bold]{system.name}[/bold]: {count(len(system.services), 'service')}, "
        f"{count(len(system.events), 'event')}, {count(len(system.sagas), 'saga')}, "
        f"{count(written.written, 'file')} in {_shown(output)}"
    )
    for line in next_steps(output, result.files, system.services[0].name):
        out.print(printable(line), markup=False)
    _keep_sdks(output, system, changed=True)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Rendering and writing without the garbage collector's cycle passes.

    A rendering makes hundreds of thousands of objects, which reference counting frees; the collector's
    passes over them (about 125 for the shop, 380 for 100 services, 66 of them while the generator's modules
    are imported) found next to nothing: the same peak memory without them, and 0.02-0.1 s less.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _Process.alone:
            # What is left lives to the command's end: frozen, the next pass (over every object made since
            # gc.disable(), all of them still in the youngest generation) does not go over it either.
            gc.freeze()
        if enabled:
            gc.enable()


def _runtime_wheel(project: Path) -> None:
    """msgen-runtime's wheel in PROJECT/wheels/ (msgen new and regen): the images install it from there
    when the package index does not serve it; rebuilt only when the runtime changed."""
    from msgen import runtime_dist

    try:
        runtime_dist.build_wheel(project / "wheels")
    except MsgenError as exc:  # the project is written; msgen build tries again
        err.print(f"warning: no msgen-runtime wheel in wheels/: {exc}", markup=False)


def _keep_sdks(project: Path, system: Any, *, changed: bool) -> None:
    """Run the SDK generators already installed (msgen new, and regen when the public contract changed)."""
    from msgen import names
    from msgen.sdk import LANGUAGES, generate_sdks

    if not changed:
        return
    try:
        result = generate_sdks(project, system, LANGUAGES, install=False)
    except MsgenError as exc:
        err.print(f"The SDKs were not generated: {exc}", markup=False)
        return
    for language, files in result.generated.items():
        out.print(f"SDK {language}: {names.count(files, 'generated file')}", markup=False)
    for language, how in result.missing.items():
        out.print(f"SDK {language}: its generated calls come from {how}", markup=False)


def next_steps(output: Path, files: dict[str, str], service: str) -> list[str]:
    """What to run after msgen new, working as printed in a virtualenv that has msgen alone.

    A service's tests need its test extra (pytest, schemathesis, ...), which msgen does not
    install: the hint installs it first, as the service's pyproject.toml lists it.
    """
    import shlex
    import tomllib

    pyproject = tomllib.loads(files[f"services/{service}/pyproject.toml"])
    extra = pyproject.get("project", {}).get("optional-dependencies", {}).get("test", [])
    install = " ".join(shlex.quote(requirement) for requirement in extra)
    project = shlex.quote(str(output))
    folder = shlex.quote(f"{output}/services/{service}")
    return [
        "Next:",
        f"  msgen up {project}    # run the whole system here; Ctrl-C stops it",
        f"  cd {folder} && python -m pip install {install} && python -m pytest    # test the {service} service",
    ]


@app.command(cls=_Command)
def validate(spec: SpecArg) -> None:
    """Check SPEC and report every problem as file:line:col: message.

    Example: [bold]msgen validate examples/shop.yaml[/bold]
    """
    from msgen.generate import load_system

    system = load_system(spec)
    from rich.table import Table

    table = Table(title=f"{_shown(spec)}: valid", show_edge=False)
    for column in ("service", "entities", "operations", "calls", "publishes", "consumes"):
        table.add_column(column)
    for s in system.services:
        table.add_row(
            s.name,
            ", ".join(e.name for e in s.entities),
            str(len(s.operations)),
            ", ".join(f"{c.service}.{c.operation}" for c in s.calls),
            ", ".join(s.publish_names),
            ", ".join(s.consume_names),
        )
    out.print(table)


@app.command(cls=_Command)
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


@app.command(cls=_Command)
def graph(
    spec: SpecArg,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="mermaid, markdown, dot, svg or png (drawn without Graphviz)."),
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
        raise UsageError(f"unknown format '{fmt}': use mermaid, markdown, dot, svg or png")
    if saga is not None and fmt != "mermaid":
        raise UsageError("--saga draws a Mermaid sequence diagram: use it with --format mermaid")
    system = load_system(spec)
    if fmt in ("svg", "png"):
        data = graphs.render_image(system, fmt)
    elif fmt == "mermaid":
        text = graphs.saga_sequence(graphs.saga(system, saga), system) if saga is not None else graphs.mermaid(system)
        data = text.encode()
    else:
        data = (graphs.markdown(system) if fmt == "markdown" else graphs.dot(system)).encode()
    if output is not None:
        output.write_bytes(data)
    elif fmt in ("svg", "png") and sys.stdout.isatty():
        raise MsgenError("refusing to print an image to a terminal: use --output FILE")
    else:
        sys.stdout.buffer.write(data)


@app.command(cls=_Command)
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

    found = find_service(project, service)
    base = f"http://{host}:{port}"
    err.print(f"Serving [bold]{found.name}[/bold] on {base} (Ctrl-C stops it). Try:")
    err.print(f"  curl -s {base}/health/ready", markup=False)
    err.print(f"  open {base}/docs", markup=False)
    run(found, host=host, port=port, database_url=database_url)


def _build_images(project: Path, *, engine: str | None, only: str | None, push: bool, jobs: int = 1) -> dict[str, str]:
    """Build (and push) PROJECT's images, showing the engine's output as it comes; name -> pushed digest."""
    from msgen import build as images
    from msgen.generate import load_system

    spec = project / "msgen.yaml"
    if not spec.is_file():
        raise images.BuildError(f"{_shown(project)} has no msgen.yaml: is it a project made by msgen new?")
    system = load_system(spec)
    done = images.build_images(
        project,
        system,
        engine=engine,
        only=only,
        push=push,
        jobs=jobs,
        progress=lambda line: err.print(line, markup=False, highlight=False),
    )
    for image in done:
        err.print(f"built {image.tag}" + (f" ({image.digest})" if image.digest else ""), markup=False)
    return {image.name: image.digest for image in done if image.digest}


@app.command(cls=_Command)
def build(
    project: Annotated[Path, typer.Argument(help="A project made by msgen new.", file_okay=False)] = Path("."),
    push: Annotated[bool, typer.Option("--push", help="Push the images to deploy.registry once built.")] = False,
    engine: Annotated[str | None, typer.Option(help="docker or podman (default: the first found).")] = None,
    service: Annotated[str | None, typer.Option(help="Build only this service's image (or gateway).")] = None,
    jobs: Annotated[
        int, typer.Option(help="Images built at once, after the first (which makes the shared layers).")
    ] = 1,
) -> None:
    """Build every service's and the gateway's image of PROJECT from its Dockerfiles, tagged
    REGISTRY/APP:VERSION (deploy.registry, the image's name, the project's version).
    Engine flags this machine needs: MSGEN_ENGINE_FLAGS, MSGEN_BUILD_FLAGS.

    Example: [bold]msgen build shop --engine podman --push[/bold]
    """
    _build_images(project, engine=engine, only=service, push=push, jobs=jobs)


@app.command(cls=_Command)
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
    build_images: Annotated[
        bool, typer.Option("--build", help="Build the images first (msgen build), then deploy their tags.")
    ] = False,
    push: Annotated[
        bool, typer.Option("--push", help="With --build: push the images and pin their digests in the overlay.")
    ] = False,
    engine: Annotated[str | None, typer.Option(help="With --build: docker or podman (default: the one found).")] = None,
) -> None:
    """Build a kustomize overlay of PROJECT, validate it, apply it server-side and wait for the rollouts.

    Example: [bold]msgen deploy --k8s shop --overlay prod --dry-run --out all.yaml[/bold]
    """
    from msgen import deploy as k8s_deploy

    if not k8s:
        raise UsageError("choose a target: --k8s (the only one so far)")
    if push and not build_images:
        raise UsageError("--push goes with --build")
    digests: dict[str, str] = {}
    if build_images:
        digests = _build_images(project, engine=engine, only=None, push=push)
    built = k8s_deploy.render_and_validate(project, overlay, namespace, digests)
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
    err.print(f"{overlay} is deployed and every rollout finished", markup=False)


@app.command(cls=_Command)
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

    Under msgen up the services listen from --port + 1 (8001) in spec order.

    Example: [bold]msgen dlq http://127.0.0.1:8003 --project shop --replay-all[/bold]
    """
    import httpx

    from msgen.localrun import read_local_admin_token

    base = url.rstrip("/")
    if token is None:
        token = read_local_admin_token(project)  # refused through a link: never read from outside the project
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(f"{base}/admin/dead-letters", headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise MsgenError(f"cannot reach {base}: {exc or type(exc).__name__}") from None
    if answer.status_code != 200:
        raise MsgenError(f"{base} answered {answer.status_code} to the dead letters' list: {_why(answer)}")
    letters = answer.json()
    chosen = [letter["id"] for letter in letters] if replay_all else list(replay or [])
    if not chosen:
        from rich.table import Table

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


@app.command(cls=_Command)
def up(
    project: Annotated[Path, typer.Argument(help="A project made by msgen new.", file_okay=False)] = Path("."),
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Start the spec's first saga (creating its entity through the gateway), follow it to its end, "
            "print its timeline, then stop.",
        ),
    ] = False,
    broker: Annotated[
        str | None, typer.Option("--broker", help="Use this broker instead of a local nats-server.")
    ] = None,
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="A PostgreSQL server URL: one database per service on it.")
    ] = None,
    redis: Annotated[str | None, typer.Option("--redis", help="A Redis URL for caches and rate limits.")] = None,
    smtp: Annotated[str | None, typer.Option("--smtp", help="HOST:PORT of an SMTP server for the mails.")] = None,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            help="The gateway's port; the services take the next ones in spec order, then the nats-server. "
            "0: any free ports.",
        ),
    ] = 8000,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            help="human: the services' logs as coloured columns (time, service, level, message, correlation "
            "id, fields); json: their raw JSON lines.",
        ),
    ] = "human",
    ready_timeout: Annotated[
        float | None,
        typer.Option(
            "--ready-timeout",
            help="Give up when a service is not ready this many seconds after the start, saying which and why "
            "(default: wait as long as it takes).",
            min=0.1,
        ),
    ] = None,
    no_dashboard: Annotated[
        bool,
        typer.Option(
            "--no-dashboard",
            help="Serve no dashboard (by default: services, logs, traces, sagas, dead letters and an API explorer, "
            "on the port after the nats-server's).",
        ),
    ] = False,
) -> None:
    """Run the whole system locally: nats-server, every service, the gateway; Ctrl-C stops it all.

    Example: [bold]msgen up shop --demo[/bold]
    """
    from msgen.localrun import Options
    from msgen.up import run

    if log_format not in ("human", "json"):
        raise UsageError(f"unknown log format '{log_format}': use human or json")

    smtp_target = None
    if smtp:
        host, _, smtp_port = smtp.partition(":")
        if smtp_port and not smtp_port.isdigit():
            raise MsgenError(f"--smtp {smtp}: expected HOST or HOST:PORT")
        smtp_target = (host or "127.0.0.1", int(smtp_port or 25))
    from secrets import token_urlsafe

    options = Options(
        workdir=(project / ".msgen" / "run").resolve(),
        broker_url=broker,
        postgres_url=postgres,
        redis_url=redis,
        smtp=smtp_target,
        internal_auth_secret=token_urlsafe(32),  # this run's: the gateway's calls carry its tokens
        base_port=port or None,
    )
    result = run(
        project,
        options,
        console=err,
        demo=demo,
        token=_dev_token_minter(project),
        log_format=log_format,
        ready_timeout=ready_timeout,
        log_console=out,
        dashboard=not no_dashboard,
    )
    if result.failed:
        raise typer.Exit(1)
    if demo:  # last, below the processes' shutdown lines, which scroll the timeline away
        ended = result.demo_status or "without an outcome"
        verdict = "as expected" if result.demo_status == result.demo_expected else f"not {result.demo_expected}"
        err.print(f"Demo: the saga ended {ended} ({verdict}); every process has stopped.", markup=False)
        if result.demo_status != result.demo_expected and result.demo_hint:
            err.print(result.demo_hint, markup=False)
        if result.demo_status != result.demo_expected:
            raise typer.Exit(1)


def _why(answer: Any) -> str:
    """What a non-200 answer of a service's admin API means for the user of msgen dlq."""
    if answer.status_code in (401, 403):
        return "the admin token was refused: pass the service's ADMIN_TOKEN with --token, or --project PROJECT"
    if answer.status_code == 404:
        return "no dead letters API there: give the URL of a service msgen generated (msgen up lists them)"
    return "the service could not answer; its log says why"


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
    from rich.table import Table

    from msgen.plan import Plan

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


def _changes_table(plan: Plan, title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, show_edge=False)
    for column in ("file", "change", "why"):
        table.add_column(column)
    for change in plan.changes:
        style = _CHANGE_STYLE.get(change.action, "")
        table.add_row(_shown(change.path), f"[{style}]{change.action}[/{style}]", change.why)
    return table


def _print_changes(console: Console, plan: Plan, title: str) -> None:
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


def _counts(plan: Plan) -> str:
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    return ", ".join(f"{n} {action}" for action, n in counts.items())


def _report_regen(plan: Plan, project: Path) -> None:
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


@app.command(cls=_Command)
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

    done = run_regen(project, spec=spec, force=force)
    _report_regen(done, project)
    from msgen.render.common import PUBLIC_CONTRACT

    if any(c.writes and c.path.startswith(f"contracts/openapi/{PUBLIC_CONTRACT}.") for c in done.changes):
        _keep_sdks(project, _project_system(project), changed=True)


def _project_system(project: Path) -> Any:
    """The resolved system of a project's own msgen.yaml."""
    from msgen.loader import load_spec_text
    from msgen.regen import SPEC_FILE, _read_spec
    from msgen.resolve import resolve

    text = _read_spec(project, project / SPEC_FILE, str(project / SPEC_FILE))
    return resolve(load_spec_text(text, str(project / SPEC_FILE), project / SPEC_FILE))


@app.command(cls=_Command)
def sdk(
    project: ProjectDirArg = Path("."),
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="typescript or python (repeatable; default: every SDK).")
    ] = None,
) -> None:
    """Generate the client SDKs' calls from the public contract (installing their generators when missing).

    Example: [bold]msgen sdk shop --lang python[/bold]
    """
    from msgen import names
    from msgen.regen import read_project
    from msgen.sdk import LANGUAGES, generate_sdks

    languages = lang or list(LANGUAGES)
    unknown = [name for name in languages if name not in LANGUAGES]
    if unknown:
        raise MsgenError(f"--lang {unknown[0]}: expected one of {', '.join(LANGUAGES)}")
    read_project(project)
    result = generate_sdks(project, _project_system(project), languages, install=True)
    for language, files in result.generated.items():
        out.print(f"SDK {language}: {names.count(files, 'generated file')}", markup=False)


@app.command(cls=_Command)
def diff(
    project: ProjectDirArg = Path("."),
    spec: RegenSpecOption = None,
) -> None:
    """Show what msgen regen would change in PROJECT, writing nothing; exit code 1 when it would change something.

    The unified diff goes to standard output, the summary table to standard error.

    Example: [bold]msgen diff shop[/bold]
    """
    from msgen.plan import unified_diff
    from msgen.regen import plan

    planned = plan(project, spec=spec)
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


contracts_app = typer.Typer(
    help="Consumer-driven contracts (Pact) of a generated project.", no_args_is_help=True, cls=_Handled
)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command(name="verify", cls=_Command)
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

    results = verify_project(project, pacts)
    if not results:
        out.print(
            f"No pacts in {_shown(project)}: its services neither call one another nor read one another's events."
        )
        return
    from rich.table import Table

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


@app.command(name="add-service", cls=_Command)
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

    options = None
    if template is not None:
        from msgen.service_template import template_options

        options = template_options(
            template, engine, port, health, ready, prefix, read_scope, write_scope, data, trust, entity
        )
    done = run_add(project, name, spec=spec, entity=entity, description=description, force=force, template=options)
    out.print(f"Added service [bold]{_shown(name)}[/bold] to the spec.")
    _report_regen(done, project)


@app.command(cls=_Command)
def token(
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", "-s", help="A scope the token grants (repeatable); --list-scopes lists the project's."),
    ] = None,
    project: Annotated[Path, typer.Argument(help="A project made by msgen new.", file_okay=False)] = Path("."),
    sub: Annotated[str, typer.Option("--sub", help="The token's subject (the user).")] = "dev-user",
    ttl: Annotated[str, typer.Option("--ttl", help="How long it is valid: 15m, 1h, 1d ...")] = "1h",
    list_scopes: Annotated[
        bool, typer.Option("--list-scopes", help="Print the scopes the project's routes ask for, and exit.")
    ] = False,
) -> None:
    """Print a JWT signed by the project's dev issuer, which the gateway trusts under msgen up.

    Example: [bold]msgen token --scope orders:create --sub u-1 --ttl 1h shop[/bold]
    """
    # Kept light (no spec loading, no web stack): a token is asked for often, while developing.
    from msgen.writer import not_a_project
    from msgen_runtime.gateway.devtokens import DevIssuerError, known_scopes, mint

    try:
        why = not_a_project(project)
        if why:
            raise MsgenError(why)
        known = known_scopes(project)
        if known is None:  # a project generated before msgen recorded them: its spec tells
            known = _spec_scopes(project)
        if list_scopes:
            sys.stdout.write("".join(f"{name}\n" for name in known))
            return
        if not scope:
            raise UsageError(f"give at least one --scope; {_scope_list(known)}")
        unknown = [name for name in scope if name not in known]
        if unknown:
            raise UsageError(f"unknown scope {', '.join(repr(name) for name in unknown)}; {_scope_list(known)}")
        sys.stdout.write(mint(project, scopes=scope, sub=sub, ttl=ttl) + "\n")
    except (DevIssuerError, ValueError) as exc:
        raise MsgenError(str(exc)) from None


def _scope_list(known: list[str]) -> str:
    return f"the project's scopes: {', '.join(known)}" if known else "the project's routes ask for no scope"


def _spec_scopes(project: Path) -> list[str]:
    from msgen.generate import load_system
    from msgen.render.gateway import scopes

    return scopes(load_system(project / "msgen.yaml"))
