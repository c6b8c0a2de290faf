"""msgen's layers, checked with import-linter (docs/development.md, "Layers").

The contracts below are the layering: the runtime never imports the generator; the
spec, the model, the loader and the resolver never import the renderer or the
commands; the renderer never imports the commands; the CLI is on top; and no
import cycle between msgen's modules (imports inside functions count: import-linter
reads them all). The few imports still crossing a line are named in the contracts,
each with what would remove it.
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
    msgen.names
    msgen.errors
    msgen.patterns
forbidden_modules =
    msgen.render
    msgen.generate
    msgen.writer
    msgen.regen
    msgen.add_service
    msgen.service_template
    msgen.cli
# Still crossing (issue 17, "one typed model"): the resolver wraps spec text in SpecText and makes
# example strings with the renderer's helpers, and knows the public contract's reserved name.
ignore_imports =
    msgen.resolve -> msgen.render.escape
    msgen.resolve -> msgen.render.examples
    msgen.resolve -> msgen.render.public

[importlinter:contract:render]
name = the renderer never imports the commands
type = forbidden
source_modules = msgen.render
forbidden_modules =
    msgen.cli
    msgen.generate
    msgen.writer
    msgen.regen
    msgen.add_service
    msgen.service_template
    msgen.up
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
# Still cycles (each import is inside a function): add-service's templated path calls back into
# add_service for the spec edit (goes with one plan -> check -> apply for regen and both add-service
# paths), and msgen up starts its dashboard whose server asks msgen up for the processes.
ignore_imports =
    msgen.service_template -> msgen.add_service
    msgen.up -> msgen.dashboard
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


def test_a_crossing_import_breaks_a_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The contracts see msgen's imports: a layer that does import another is reported (no vacuous pass)."""
    wrong = """
[importlinter]
root_packages =
    msgen

[importlinter:contract:wrong]
name = the CLI never imports the generation pipeline
type = forbidden
source_modules = msgen.cli
forbidden_modules = msgen.generate

[importlinter:contract:cycle]
name = no cycles, even where they still are
type = acyclic_siblings
ancestors = msgen
"""
    status = _lint(wrong, tmp_path)
    report = capsys.readouterr().out
    assert status != 0, report
    assert "Contracts: 0 kept, 2 broken." in report, report
    assert "msgen.cli -> msgen.generate" in report, report
    assert ".service_template -> .add_service" in report, report
