"""msgen's layers, checked with import-linter (docs/development.md, "Layers").

The contracts below are the layering: the runtime never imports the generator; the
spec, the model, the loader and the resolver (and the neutral modules they share with
the renderer: names, spec text, example strings) never import the renderer or the
commands; the renderer never imports the commands; the CLI is on top; and no
import cycle between msgen's modules (imports inside functions count: import-linter
reads them all). The few imports still crossing a line are named in the contracts,
each with what would remove it; no cycle is left.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports  # msgen's test extra

CONTRACTS = """
[importlinter]
root_packages =
    msgen
    msgen_runtime

[importlinter:contract:runtime]
name = the runtime never imports the generator
type = forbidden
source_modules = msgen_runtime
forbidden_modules = msgen

[importlinter:contract:model]
name = the spec, the model, the loader and the resolver never import the renderer or the commands
type = forbidden
source_modules =
    msgen.spec
    msgen.model
    msgen.loader
    msgen.resolve
    msgen.resolving
    msgen.names
    msgen.errors
    msgen.patterns
    msgen.text
    msgen.samples
forbidden_modules =
    msgen.render
    msgen.generate
    msgen.writer
    msgen.plan
    msgen.regen
    msgen.add_service
    msgen.service_template
    msgen.cli

[importlinter:contract:render]
name = the renderer never imports the commands
type = forbidden
source_modules = msgen.render
forbidden_modules =
    msgen.cli
    msgen.generate
    msgen.writer
    msgen.plan
    msgen.regen
    msgen.add_service
    msgen.service_template
    msgen.up
    msgen.demo
    msgen.dashboard
    msgen.build
    msgen.deploy

[importlinter:contract:cli]
name = the CLI is on top: only python -m msgen imports it
type = protected
protected_modules = msgen.cli
allowed_importers = msgen.__main__

[importlinter:contract:acyclic]
name = no import cycles between msgen's modules
type = acyclic_siblings
ancestors = msgen
"""

CONTRACT_COUNT = CONTRACTS.count("[importlinter:contract:")


def _lint(config: str, tmp_path: Path) -> int:
    """import-linter's CLI configures logging with dictConfig, which disables every logger that exists
    (the runtime's own among them, for the tests after this one): each is put back as it was."""
    import logging

    path = tmp_path / "importlinter.ini"
    path.write_text(config)
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    before = [(logger, logger.disabled, logger.level, list(logger.handlers), logger.propagate) for logger in loggers]
    try:
        return lint_imports(config_filename=str(path), no_cache=True, no_logo=True)
    finally:
        for logger, disabled, level, handlers, propagate in before:
            logger.disabled, logger.level, logger.handlers, logger.propagate = disabled, level, handlers, propagate


def test_the_layers_hold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = _lint(CONTRACTS, tmp_path)
    report = capsys.readouterr().out
    assert status == 0, report
    assert f"Contracts: {CONTRACT_COUNT} kept, 0 broken." in report, report


def test_a_crossing_import_breaks_a_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contracts see msgen's imports: a layer that does import another is reported (no vacuous pass),
    and so is a cycle made by an import inside a function (as msgen's were), here in a package of the test's own."""
    package = tmp_path / "src" / "cycled"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plan.py").write_text("def apply() -> None:\n    from cycled import command\n\n    command.run()\n")
    (package / "command.py").write_text("from cycled.plan import apply\n\n\ndef run() -> None:\n    apply()\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    wrong = """
[importlinter]
root_packages =
    msgen
    cycled

[importlinter:contract:wrong]
name = the CLI never imports the generation pipeline
type = forbidden
source_modules = msgen.cli
forbidden_modules = msgen.generate

[importlinter:contract:cycle]
name = no cycles
type = acyclic_siblings
ancestors = cycled
"""
    status = _lint(wrong, tmp_path)
    report = capsys.readouterr().out
    assert status != 0, report
    assert "Contracts: 0 kept, 2 broken." in report, report
    assert "msgen.cli -> msgen.generate" in report, report
    assert ".plan -> .command" in report or ".command -> .plan" in report, report
