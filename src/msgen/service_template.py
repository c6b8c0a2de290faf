"""Run a Copier or Cookiecutter template for a service msgen does not generate itself.

The template runs once, in-process (``copier.run_copy``, ``cookiecutter.main.cookiecutter``),
into a staging folder in ``.msgen/``; ``add-service`` plans its output as a folder to move to
``services/<name>/`` (``msgen.plan``).
What the template wrote is the user's code from then on: it is in neither the
baseline nor the manifest, so ``regen`` never writes over it or removes it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from msgen import model as m
from msgen.errors import MsgenError
from msgen.template_source import ENGINE_FILES as ENGINE_FILES  # still importable from here
from msgen.template_source import detect_engine as detect_engine
from msgen.template_source import source_problem as source_problem


class TemplateError(MsgenError):
    """The template cannot be found or failed (exit code 2: nothing was written)."""

    exit_code = 2


def run_template(service: m.TemplateService, source: Path, system: str, staging: Path) -> Path:
    """Render the template of `service` into a new folder under `staging`; return that folder (its files only).

    Any failure of the template (a missing answer, a Jinja error, a refused task)
    becomes one TemplateError line; the half-written output is removed.
    """
    problem = source_problem(source, service.engine)
    if problem is not None:
        raise TemplateError(problem)
    engine = service.engine or detect_engine(source)
    answers = service.answers(system)
    work = Path(tempfile.mkdtemp(prefix=f"template-{service.name}-", dir=staging))
    try:
        # Both engines talk on stdout and stderr, and warn; cli.py alone speaks to the user.
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            if engine == "copier":
                out = _copier(source, work, answers, trust=service.trust)
            else:
                out = _cookiecutter(source, work, answers, trust=service.trust)
    except Exception as exc:  # the template's own code may raise anything
        shutil.rmtree(work, ignore_errors=True)
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise TemplateError(f"{engine} template '{source}' failed for service '{service.name}': {detail}") from None
    if not any(out.iterdir()):
        shutil.rmtree(work, ignore_errors=True)
        raise TemplateError(f"{engine} template '{source}' wrote no file for service '{service.name}'")
    return out


def _copier(source: Path, work: Path, answers: dict[str, Any], *, trust: bool) -> Path:
    from copier import run_copy

    out = work / "out"
    # defaults=True: never ask; unsafe only when the spec trusts the template (tasks, migrations, extensions).
    run_copy(str(source), str(out), data=answers, defaults=True, unsafe=trust, quiet=True, overwrite=True)
    return out


def _cookiecutter(source: Path, work: Path, answers: dict[str, Any], *, trust: bool) -> Path:
    from cookiecutter.main import cookiecutter

    # Its replay file and clone folder go to the staging folder, not to the user's home.
    config = {"replay_dir": str(work / "replay"), "cookiecutters_dir": str(work / "cookiecutters")}
    context = {key: value if isinstance(value, str) else str(value) for key, value in answers.items()}
    made = cookiecutter(
        str(source),
        no_input=True,
        extra_context=context,
        output_dir=str(work / "out"),
        default_config=config,
        accept_hooks=trust,
    )
    return Path(made)


def own_dockerfile(output: Path) -> bool:
    """Whether the template brought its own Dockerfile (then msgen writes none)."""
    return (output / "Dockerfile").is_file()


# -- add-service --template -------------------------------------------------------


@dataclass(frozen=True)
class TemplateOptions:
    """What `msgen add-service --template` was told; None: the spec's default."""

    path: Path
    engine: str | None = None
    port: int | None = None
    health: str | None = None
    ready: str | None = None
    prefix: str | None = None
    read_scopes: tuple[str, ...] = ()
    write_scopes: tuple[str, ...] = ()
    data: tuple[tuple[str, str], ...] = ()
    trust: bool = False


def template_node(
    name: str, options: TemplateOptions, source: str, engine: str, api_version: str, description: str | None
) -> CommentedMap:
    """The spec's new service: the template, and the values the deployment needs, written out to be seen."""
    template = CommentedMap()
    template["source"] = source
    template["engine"] = engine
    if options.data:
        template["data"] = CommentedMap(options.data)
    if options.trust:
        template["trust"] = True
    template["port"] = options.port if options.port is not None else 8000
    template["health"] = options.health or "/healthz"
    template["ready"] = options.ready or "/readyz"
    api = CommentedMap()
    # Written out: the template's code was made with this prefix, so it must not follow a later api_version.
    api["prefix"] = options.prefix or f"/{api_version}/{name.replace('_', '-')}"
    if options.read_scopes or options.write_scopes:
        scopes = CommentedMap()
        for key, values in (("read", options.read_scopes), ("write", options.write_scopes)):
            if values:
                seq = CommentedSeq(values)
                seq.fa.set_flow_style()
                scopes[key] = seq
        api["scopes"] = scopes
    template["api"] = api
    node = CommentedMap()
    node["description"] = description or f"The {name} service."
    node["template"] = template
    return node


def spec_api_version(text: str) -> str:
    """system.api_version of the spec's text (v1 when absent); the spec is checked as a whole afterwards."""
    from msgen.loader import load_spec_text

    try:
        return load_spec_text(text, "msgen.yaml").spec.system.api_version
    except MsgenError:
        return "v1"


def template_options(
    path: Path,
    engine: str | None,
    port: int | None,
    health: str | None,
    ready: str | None,
    prefix: str | None,
    read_scopes: list[str] | None,
    write_scopes: list[str] | None,
    data: list[str] | None,
    trust: bool,
    entity: str | None,
) -> TemplateOptions:
    """The command line's options, checked where the spec cannot check them."""
    if entity is not None:
        raise TemplateError("--entity does not go with --template: the template makes the service's code")
    if engine is not None and engine not in ENGINE_FILES:
        raise TemplateError(f"unknown template engine '{engine}': use {' or '.join(ENGINE_FILES)}")
    answers: list[tuple[str, str]] = []
    for item in data or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TemplateError(f"--data '{item}' is not KEY=VALUE")
        answers.append((key.strip(), value))
    return TemplateOptions(
        path=path,
        engine=engine,
        port=port,
        health=health,
        ready=ready,
        prefix=prefix,
        read_scopes=tuple(read_scopes or ()),
        write_scopes=tuple(write_scopes or ()),
        data=tuple(answers),
        trust=trust,
    )
