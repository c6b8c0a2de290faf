"""The editor modeline of the project's msgen.yaml: it names the schema shipped in the project.

Kept apart from the renderer: the spec hash (resolve, regen) is the hash of the project's
copy, and regen's quick path must not import the renderer.
"""

from __future__ import annotations

import re

SPEC_SCHEMA = "schema/msgen-spec.v1.json"
_MODELINE = re.compile(r"#\s*yaml-language-server:\s*\$schema=")


def project_spec_text(text: str) -> str:
    """The spec as the project keeps it: its editor modeline names the schema shipped in the project.

    Wherever the spec's own `# yaml-language-server: $schema=...` pointed (a path beside the
    spec, out of the project once copied), the project's copy points at its SPEC_SCHEMA.
    Only that comment line of the leading comments changes: line numbers, and so diagnostics,
    stay as they were.
    """
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if _MODELINE.match(line):
            lines[number] = f"# yaml-language-server: $schema={SPEC_SCHEMA}"
            return "\n".join(lines)
        if line.strip() and not line.lstrip().startswith("#"):
            break
    return text
