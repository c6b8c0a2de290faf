"""Hostile strings in every free-text place of a spec: refused with a position, or generated harmlessly.

For each string of the corpus and each place of the spec that takes free text, `msgen validate` either
refuses the spec with a `file:line:col:` message that points at that place, or accepts it. Then, per
string, the shop is generated with the string in every place that accepted it, and:

- every generated file parses in its language (Python, TOML, YAML, JSON);
- importing every generated package (in a fresh interpreter, cwd a temporary folder) leaves no marker
  file: the strings carry code that would create one if it ever ran;
- the text survives: each description is found, escaped, in the files that show it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from msgen.errors import SpecError
from msgen.loader import load_spec_text
from msgen.render import render_system
from msgen.resolve import resolve
from tests.processes import run

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop.yaml"
MARKER = "PWNED"

# Code that creates the marker file in the current directory if it is ever executed.
RUN = f'open("{MARKER}", "w").close()'

CORPUS: dict[str, str] = {
    "double_quote": 'say "hi"',
    "single_quote": "it's",
    "triple_double": f'x"""\n{RUN}\n"""',
    "triple_single": f"x'''\n{RUN}\n'''",
    "trailing_quote": 'ends with a quote"',
    "trailing_backslash": "ends with a backslash\\",
    "backslashes": "C:\\new\\table \\x41 \\u0041 \\\\",
    "named_escape": "\\N{bad} and \\N{LATIN SMALL LETTER A}",
    "newlines": f"first line\n{RUN}\nthird line",
    "carriage_return": "one\rtwo",
    "crlf": "one\r\ntwo",
    "nul": "before\x00after",
    "escape": "red \x1b[31m text",
    "del_char": "del\x7f",
    "tab": "a\tb",
    "jinja_print": "{{ 7 * 7 }} {{ config }}",
    "jinja_block": "{% raw %}{% endraw %}{% include 'x' %}",
    "shell": "${HOME} $(touch PWNED) `touch PWNED`",
    "script": "</script><script>alert(1)</script>",
    "toml_key": f'"\n[tool.pwned]\nx = "{RUN}',
    "yaml_colon": "key: value # comment",
    "yaml_doc": "---\n!!python/object/apply:os.system ['touch PWNED']\n...",
    "markdown": "*bold* _it_ [link](javascript:alert(1)) | pipe | # heading `code`",
    "format_braces": "{0} {name} {{x}} %s %(x)s",
    "unicode": "café ☕ 東京 Ünïcödé",
    "unicode_breaks": "line\u2028separator \u0085 next line",
    "very_long": "long " * 2000,
    "comment_end": f"*/ --> # \n{RUN}",
}

# Control characters and line separators: no free-text place takes them (docs/spec.md#free-text).
REFUSED_EVERYWHERE = {"carriage_return", "crlf", "del_char", "escape", "nul", "unicode_breaks"}

# Every place of the shop that takes free text, as a path into the spec's YAML.
PLACES: dict[str, tuple[Any, ...]] = {
    "system.description": ("system", "description"),
    "service.description": ("services", "user", "description"),
    "entity.description": ("services", "user", "entities", "User", "description"),
    "value_object.description": ("services", "user", "value_objects", "Address", "description"),
    "field.description": ("services", "user", "entities", "User", "fields", "full_name", "description"),
    "event.description": ("events", "order.created", "description"),
    "event_field.description": ("events", "order.created", "fields", "amount", "description"),
    "operation.summary": ("services", "order", "api", "operations", "placeOrder", "summary"),
    "callee_operation.summary": ("services", "product", "api", "operations", "getProductPrice", "summary"),
    "operation.sets": ("services", "product", "api", "operations", "renameProduct", "sets", "name"),
    "query.description": ("services", "product", "api", "operations", "getProductPrice", "query", "at", "description"),
    "field.default": ("services", "product", "entities", "Product", "fields", "name", "default"),
    "field.example": ("services", "product", "entities", "Product", "fields", "name", "example"),
    "field.pattern": ("services", "product", "entities", "Product", "fields", "name", "pattern"),
    "enum.value": ("services", "product", "entities", "Product", "fields", "currency", "values", 2),
    "email.subject": ("services", "notification", "emails", 0, "subject"),
    "email.body": ("services", "notification", "emails", 0, "body"),
    "gateway.issuer": ("gateway", "auth", "issuer"),
    "gateway.audience": ("gateway", "auth", "audience"),
    "gateway.jwks_url": ("gateway", "auth", "jwks_url"),
    "cors.origin": ("gateway", "cors", "origins", 0),
    "cors.header": ("gateway", "cors", "headers", 0),
    "deploy.registry": ("deploy", "registry"),
    "deploy.base_image": ("deploy", "base_image"),
    "deploy.host": ("deploy", "ingress", "host"),
    "deploy.repo_url": ("deploy", "repo_url"),
    "ops.storage": ("services", "order", "ops", "database", "storage"),
    "ops.backup_schedule": ("services", "order", "ops", "database", "backup_schedule"),
    "ops.cpu": ("services", "order", "ops", "resources", "limits", "cpu"),
    "ops.retention": ("services", "order", "ops", "database", "backup_retention"),
}


def _shop() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SHOP.read_text())
    for rule in spec["services"]["notification"]["emails"]:
        rule["on"] = rule.pop(True)  # YAML 1.1 reads the key `on` as true; msgen reads YAML 1.2
    # The shop has no summaries and no custom read on the product service: give it both, so that the
    # summary reaches the callers' clients too.
    product_api = spec["services"]["product"]["api"]
    product_api["operations"] = {
        "getProductPrice": {
            "method": "GET",
            "path": "/products/{id}/price",
            "entity": "Product",
            "action": "get",
            "query": {"at": {"type": "date", "required": False}},
        },
        # a fixed value (sets) lands in the handler's code
        "renameProduct": {
            "method": "POST",
            "path": "/products/{id}/rename",
            "entity": "Product",
            "action": "update",
            "sets": {"name": "Renamed"},
        },
    }
    spec["services"]["order"]["calls"].append({"service": "product", "operation": "getProductPrice"})
    spec["gateway"]["cors"]["headers"] = ["Authorization", "Content-Type"]
    spec["services"]["order"]["ops"]["database"] = {
        "storage": "10Gi",
        "backup_schedule": "0 3 * * *",
        "backup_retention": "30d",
    }
    return spec


def _set(spec: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _value(place: str, text: str) -> str:
    # A pattern must compile: the hostile pattern matches exactly the hostile text.
    return "^" + re.escape(text) + "$" if place == "field.pattern" else text


def _dump(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=False, width=1_000_000)


def _spec_text(name: str, places: Iterable[str]) -> str:
    spec = _shop()
    for place in places:
        _set(spec, PLACES[place], _value(place, CORPUS[name]))
    return _dump(spec)


@cache
def _refusal(name: str, place: str) -> SpecError | None:
    """What `msgen validate` says of the shop with this string in this place (None: valid)."""
    try:
        resolve(load_spec_text(_spec_text(name, [place]), "spec.yaml"))
    except SpecError as exc:
        return exc
    return None


def test_every_place_exists_and_takes_a_harmless_value() -> None:
    spec = _shop()
    harmless = {place: "Plain words" for place in PLACES}
    harmless |= {"field.pattern": "^[A-Za-z ]+$", "enum.value": "GBP", "cors.header": "X-Plain"}
    harmless |= {"gateway.issuer": "https://auth.example/", "gateway.audience": "shop-api"}
    harmless |= {"gateway.jwks_url": "https://auth.example/jwks.json", "cors.origin": "https://shop.example"}
    harmless |= {"deploy.registry": "ghcr.io/example", "deploy.base_image": "python:3.12.12-slim-bookworm"}
    harmless |= {"deploy.host": "api.example.com", "deploy.repo_url": "https://example.com/shop.git"}
    harmless |= {"ops.storage": "10Gi", "ops.backup_schedule": "0 3 * * *", "ops.cpu": "500m", "ops.retention": "4w"}
    for place, path in PLACES.items():
        _set(spec, path, harmless[place])
    resolve(load_spec_text(_dump(spec), "spec.yaml"))


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_place_refuses_with_a_position_or_accepts(name: str, place: str) -> None:
    refused = _refusal(name, place)
    if refused is None:
        return
    lines = _spec_text(name, [place]).splitlines()
    leaf = PLACES[place][-1]
    # the value's key, or its owner's (a pattern nothing matches is reported at its field)
    keys = [str(k) for k in PLACES[place] if isinstance(k, str)][-2:]
    for diagnostic in refused.diagnostics:
        assert diagnostic.file == "spec.yaml"
        assert 1 < diagnostic.line <= len(lines) and diagnostic.column >= 1, diagnostic
        assert str(diagnostic).startswith(f"spec.yaml:{diagnostic.line}:{diagnostic.column}: ")
    pointed = [lines[d.line - 1] for d in refused.diagnostics]
    item = isinstance(leaf, int)
    assert any(
        any(f"{key}:" in line for key in keys) or (item and line.lstrip().startswith("- ")) for line in pointed
    ), str(refused)


def test_the_cli_refuses_with_file_line_col(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(_spec_text("nul", ["service.description"]))
    done = run([sys.executable, "-m", "msgen", "validate", str(spec)], timeout=120)
    assert done.returncode == 2
    assert re.search(rf"{re.escape(str(spec))}:\d+:\d+: .*description", done.stdout + done.stderr)


def _generated(name: str) -> tuple[list[str], dict[str, str]]:
    accepted = [place for place in PLACES if _refusal(name, place) is None]
    loaded = load_spec_text(_spec_text(name, accepted), "spec.yaml")
    return accepted, render_system(resolve(loaded), loaded.text)


def _parse(path: str, text: str) -> None:
    if path.endswith(".py"):
        ast.parse(text, filename=path)
    elif path.endswith(".toml"):
        tomllib.loads(text)
    elif path.endswith((".yaml", ".yml")):
        list(yaml.safe_load_all(text))
    elif path.endswith(".json"):
        json.loads(text)


def _packages(root: Path) -> Iterator[tuple[Path, str]]:
    for init in sorted(root.glob("services/*/*/__init__.py")):
        yield init.parent.parent, init.parent.name
    for init in sorted(root.glob("gateway/*/__init__.py")):
        yield init.parent.parent, init.parent.name


IMPORT_ALL = """
import importlib, pkgutil, sys
count = 0
for package in sys.argv[1:]:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if ".migrations" not in info.name:
            importlib.import_module(info.name)
            count += 1
print(count)
"""


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_generation_with_the_string_everywhere_it_is_accepted(name: str, tmp_path: Path) -> None:
    accepted = [place for place in PLACES if _refusal(name, place) is None]
    assert bool(accepted) == (name not in REFUSED_EVERYWHERE), accepted
    if not accepted:
        return  # refused in every place, with a position (the test above)
    accepted, files = _generated(name)
    for path, text in files.items():
        _parse(path, text)
    project = tmp_path / "project"
    for path, text in files.items():
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    # One interpreter imports every package: each lives in its own folder, their names differ.
    found = list(_packages(project))
    assert len(found) >= 7, found  # six services and the gateway
    path = os.pathsep.join([*(str(folder) for folder, _ in found), os.environ.get("PYTHONPATH", "")])
    done = run(
        [sys.executable, "-c", IMPORT_ALL, *(package for _, package in found)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) >= 40, done.stdout  # every module was imported, not just the packages
    assert not (cwd / MARKER).exists()
    assert not list(project.rglob(MARKER))
    if "service.description" in accepted:
        init = ast.parse(files["services/user/user_service/__init__.py"])
        assert ast.get_docstring(init, clean=False) is not None
        docstring = ast.get_docstring(init, clean=False) or ""
        assert _words(CORPUS[name]) <= _words(docstring)
        meta = tomllib.loads(files["services/user/pyproject.toml"])
        assert meta["project"]["description"].split() == CORPUS[name].split()
    if "service.description" in accepted:
        readme = files["services/user/README.md"]
        assert _words(CORPUS[name]) <= _words(readme)
    for path, text in files.items():
        if path.endswith(".md"):
            assert "<script" not in text and "</script" not in text, path  # HTML-escaped, never markup
    if "operation.summary" in accepted:
        routes = files["services/order/order_service/api/routes.py"]
        assert _words(CORPUS[name]) <= _words(routes)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z]{3,}", text)}


WORST = 'x"""\\N{bad} \\\' {{ 7 * 7 }} {% if x %} ${HOME} $(id) </script> [a](b) # ``` "\n' + RUN + '\n"""'
# For one-line places (summaries, subjects) and mail texts, whose braces are placeholders: no braces.
WORST_LINE = 'x""" \\N \\\' $HOME $(id) </script> [a](b) # ``` "; ' + RUN + ' ; """'


@pytest.fixture(scope="module")
def worst_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop with the worst string in every place that accepts it (or its one-line form), on disk."""
    spec = _shop()
    used: dict[str, str] = {}
    for variant, text in (("worst_line", WORST_LINE), ("worst", WORST)):
        CORPUS[variant] = text
        try:
            used |= {place: text for place in PLACES if _refusal(variant, place) is None}
        finally:
            del CORPUS[variant]
    assert {"service.description", "operation.summary", "field.default", "email.body", "email.subject"} <= set(used)
    for place, text in used.items():
        _set(spec, PLACES[place], _value(place, text))
    loaded = load_spec_text(_dump(spec), "spec.yaml")
    files = render_system(resolve(loaded), loaded.text)
    root = tmp_path_factory.mktemp("worst") / "shop"
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root


def test_the_worst_case_project_is_ruff_clean(worst_project: Path) -> None:
    from ruff.__main__ import find_ruff_bin

    for args in (["check"], ["format", "--check"]):
        done = run([find_ruff_bin(), *args, "--no-cache", "."], cwd=worst_project, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("service", ["product", "order"])
def test_the_worst_case_service_suite_passes(worst_project: Path, service: str) -> None:
    # product: the string as a default, an example and a pattern; order: summaries, and its client of product
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")}
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
        cwd=worst_project / "services" / service,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert not list(worst_project.rglob(MARKER))
