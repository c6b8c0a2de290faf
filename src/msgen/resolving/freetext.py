"""Free text (docs/spec.md#free-text) and the operational strings that reach manifests as they are."""

from __future__ import annotations

import re
from collections.abc import Iterator

from msgen.loader import Path_
from msgen.resolving.report import Reporter
from msgen.spec import FieldSpec, SpecFile
from msgen.text import refused_characters


class FreeTextChecks(Reporter):
    """What no generated file can carry faithfully is refused where the spec wrote it."""

    def check_free_text(self) -> None:
        """Refuse what no generated file can carry faithfully: control characters, and line breaks in one-liners."""
        for path, text, one_line in _free_text_places(self.original):
            reason = refused_characters(text, newlines=not one_line)
            shape = _URLISH.get(str(path[-1] if isinstance(path[-1], str) else path[-2]))
            if reason is None and shape is not None and not shape[0].match(text):
                reason = f"must be {shape[1]}"
            if reason is not None:
                self.error(path, f"{_place_name(path)} {reason}")
        for path, text in _ops_values(self.spec):
            rule, wanted = _OPS_SHAPES[str(path[-1])]
            if not rule.match(text):
                self.error(path, f"{path[-1]} {text[:40]!r} is not {wanted}")


# One-line values that reach configuration files and HTTP headers: refused unless they have this shape.
_URL_RE = re.compile(r"^https?://[^\s\"'<>\\`{}|^]+$")


_URLISH: dict[str, tuple[re.Pattern[str], str]] = {
    "issuer": (re.compile(r"^[^\s\"'<>\\`{}|^$]+$"), "a URL or a name without spaces, quotes or backslashes"),
    "audience": (re.compile(r"^[^\s\"'<>\\`{}|^$]+$"), "a URL or a name without spaces, quotes or backslashes"),
    "jwks_url": (_URL_RE, "an http(s) URL without spaces, quotes or backslashes"),
    "repo_url": (re.compile(r"^(https?|ssh|git)://[^\s\"'<>\\`{}|^$]+$|^git@[^\s\"'<>\\`{}|^$]+$"), "a Git URL"),
    "origins": (
        re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$"),
        "* or an origin such as https://shop.example",
    ),
    "headers": (re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"), "an HTTP header name"),
    "methods": (re.compile(r"^[A-Z]+$"), "an HTTP method in capitals"),
}


def _free_text_places(spec: SpecFile) -> Iterator[tuple[Path_, str, bool]]:
    """Every free-text string of the spec: (path, text, must be one line)."""
    if spec.system.description:
        yield ("system", "description"), spec.system.description, False
    for vo_name, vo in spec.value_objects.items():
        if vo.description:
            yield ("value_objects", vo_name, "description"), vo.description, False
        yield from _field_texts(("value_objects", vo_name, "fields"), vo.fields)
    for name, svc in spec.services.items():
        base: Path_ = ("services", name)
        if svc.description:
            yield (*base, "description"), svc.description, False
        for segment, table in (("entities", svc.entities), ("value_objects", svc.value_objects)):
            for type_name, fields in table.items():
                if fields.description:
                    yield (*base, segment, type_name, "description"), fields.description, False
                yield from _field_texts((*base, segment, type_name, "fields"), fields.fields)
        for op_name, op in svc.api.operations.items():
            if op.summary:
                yield (*base, "api", "operations", op_name, "summary"), op.summary, True
            yield from _field_texts((*base, "api", "operations", op_name, "query"), op.query)
            for field_name, value in (op.sets or {}).items():
                if isinstance(value, str):
                    yield (*base, "api", "operations", op_name, "sets", field_name), value, False
        for index, rule in enumerate(svc.emails):
            yield (*base, "emails", index, "subject"), rule.subject, True
            if rule.body:
                yield (*base, "emails", index, "body"), rule.body, False
    for name, event in spec.events.items():
        if event.description:
            yield ("events", name, "description"), event.description, False
        yield from _field_texts(("events", name, "fields"), event.fields)
    gw = spec.gateway
    if gw.auth:
        yield ("gateway", "auth", "issuer"), gw.auth.issuer, True
        yield ("gateway", "auth", "audience"), gw.auth.audience, True
        if gw.auth.jwks_url is not None:
            yield ("gateway", "auth", "jwks_url"), gw.auth.jwks_url, True
    for key in ("origins", "methods", "headers"):
        for index, value in enumerate(getattr(gw.cors, key)):
            yield ("gateway", "cors", key, index), value, True
    yield ("deploy", "repo_url"), spec.deploy.repo_url, True


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")


_CRON_FIELD = r"[0-9A-Za-z*/,?-]+"


_OPS_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "cpu": (_QUANTITY, "a Kubernetes quantity such as 500m or 2"),
    "memory": (_QUANTITY, "a Kubernetes quantity such as 256Mi"),
    "storage": (_QUANTITY, "a Kubernetes quantity such as 10Gi"),
    "backup_schedule": (
        re.compile(rf"^(@[a-z]+|{_CRON_FIELD}( {_CRON_FIELD}){{4,5}})$"),
        "a cron schedule such as '0 3 * * *'",
    ),
    "backup_retention": (re.compile(r"^[1-9][0-9]*[dwm]$"), "a retention such as 30d, 4w or 6m"),
    "name": (re.compile(r"^[a-z_][a-z0-9_]{0,62}$"), "a database name: lowercase letters, digits and _"),
}


def _ops_values(spec: SpecFile) -> Iterator[tuple[Path_, str]]:
    """The services' operational strings that reach Kubernetes manifests as they are."""
    for name, svc in spec.services.items():
        base: Path_ = ("services", name, "ops")
        db = svc.ops.database
        for key in ("storage", "backup_schedule", "backup_retention", "name"):
            value = getattr(db, key)
            if value is not None:
                yield (*base, "database", key), value
        for kind in ("requests", "limits"):
            amounts = getattr(svc.ops.resources, kind)
            yield (*base, "resources", kind, "cpu"), amounts.cpu
            yield (*base, "resources", kind, "memory"), amounts.memory


def _field_texts(base: Path_, fields: dict[str, FieldSpec]) -> Iterator[tuple[Path_, str, bool]]:
    for fname, fspec in fields.items():
        if fspec.description:
            yield (*base, fname, "description"), fspec.description, False
        for key in ("default", "example", "pattern"):
            value = getattr(fspec, key)
            if isinstance(value, str):
                yield (*base, fname, key), value, False


def _place_name(path: Path_) -> str:
    last = path[-1]
    return f"{path[-2]}[{last}]" if isinstance(last, int) else str(last)
