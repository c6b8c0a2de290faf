"""Whether a folder is a Copier or a Cookiecutter template: plain checks of its files.

Apart from msgen/service_template.py, which runs templates, so that the resolver can
check a spec's template sources without importing what runs them (and what that imports).
"""

from __future__ import annotations

from pathlib import Path

# The files that tell a template's engine, in the order they are looked for.
ENGINE_FILES = {"copier": ("copier.yml", "copier.yaml"), "cookiecutter": ("cookiecutter.json",)}


def detect_engine(folder: Path) -> str | None:
    """copier when the folder holds copier.yml or copier.yaml, cookiecutter for cookiecutter.json, else None."""
    for engine, names in ENGINE_FILES.items():
        if any((folder / name).is_file() for name in names):
            return engine
    return None


def source_problem(folder: Path, engine: str | None) -> str | None:
    """Why `folder` cannot be run as a template of `engine` (None: detected), or None when it can."""
    if not folder.exists():
        return f"template '{folder}' does not exist"
    if not folder.is_dir():
        return f"template '{folder}' is not a folder"
    found = detect_engine(folder)
    if found is None:
        return (
            f"template '{folder}' is neither a Copier template (copier.yml) nor a Cookiecutter one (cookiecutter.json)"
        )
    if engine is not None and not any((folder / name).is_file() for name in ENGINE_FILES[engine]):
        return f"template '{folder}' has no {' or '.join(ENGINE_FILES[engine])}: it is not a {engine} template"
    return None
