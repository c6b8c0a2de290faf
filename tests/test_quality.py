"""msgen's own code meets the bar it sets for generated code: ruff clean and mypy --strict."""

from __future__ import annotations

import sys

from ruff.__main__ import find_ruff_bin

from tests.conftest import ROOT
from tests.processes import run


def test_ruff_lint_and_format() -> None:
    ruff = find_ruff_bin()
    for args in (["check", "src", "tests", "benchmarks"], ["format", "--check", "src", "tests", "benchmarks"]):
        done = run([ruff, *args], cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict() -> None:
    done = run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"], cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_view_handed_to_a_template_is_typed() -> None:
    """Issue 17: a template gets frozen dataclasses, never a dict of anything (what a view function returns)."""
    import dataclasses
    import importlib
    import inspect
    import pkgutil
    import types
    import typing

    import msgen.render

    views = {}
    for info in pkgutil.iter_modules(msgen.render.__path__, "msgen.render."):
        module = importlib.import_module(info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.endswith("_view") and function.__module__ == module.__name__:
                views[f"{module.__name__}.{name}"] = typing.get_type_hints(function)["return"]
    assert len(views) >= 20, sorted(views)
    for name, returned in views.items():
        union = typing.get_origin(returned) in (typing.Union, types.UnionType)
        kinds = [t for t in typing.get_args(returned) if t is not type(None)] if union else [returned]
        for kind in kinds:
            item = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else kind
            assert dataclasses.is_dataclass(item), f"{name} returns {returned}"
            assert item.__dataclass_params__.frozen, f"{name}: {item.__name__} is not frozen"  # type: ignore[attr-defined]
