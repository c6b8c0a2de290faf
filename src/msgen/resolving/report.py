"""The collector every part of the resolver reports through, with the spec it reads and what it built so far."""

from __future__ import annotations

import re
from collections.abc import Iterable

from msgen import model as m
from msgen.errors import Diagnostic, did_you_mean
from msgen.loader import LoadedSpec, Path_
from msgen.names import EVENT_RE, FIELD_RE, OPERATION_RE, SCOPE_RE, SERVICE_RE, TYPE_RE, unsafe_reason
from msgen.spec import SpecFile

LIST_RE = re.compile(r"^list\[\s*([A-Za-z][A-Za-z0-9_]*)\s*\]\Z")

_NAME_RULES = {
    "service": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "order"),
    "entity": (TYPE_RE, "letters and digits in PascalCase", "OrderLine"),
    "value object": (TYPE_RE, "letters and digits in PascalCase", "OrderLine"),
    "field": (FIELD_RE, "lowercase letters, digits and '_', starting with a letter", "unit_price"),
    "event": (EVENT_RE, "dotted lowercase words", "order.created"),
    "operation": (OPERATION_RE, "letters and digits in camelCase", "placeOrder"),
    "saga": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "place_order"),
    "saga step": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "reserve_stock"),
    "system": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "shop"),
}


class Reporter:
    """Collects diagnostics pointing into the spec; holds the spec and what the resolver built so far."""

    original: SpecFile  # the spec as written
    spec: SpecFile  # each service with the shared value objects it uses
    diagnostics: list[Diagnostic]
    bad_publishers: set[str]  # events whose publisher was already reported
    resolved_services: dict[str, m.Service]
    resolved_events: dict[str, m.Event]

    def __init__(self, loaded: LoadedSpec) -> None:
        self.original = loaded.spec
        self.pos = loaded.positions
        self.text = loaded.text
        self.diagnostics = []
        self.bad_publishers = set()
        self.resolved_services = {}
        self.resolved_events = {}

    def vo_path(self, service: str, name: str) -> Path_:
        """Where a value object of `service` is declared: in the service, or shared at the top level."""
        own = self.original.services.get(service)
        if name in self.original.value_objects and (own is None or name not in own.value_objects):
            return ("value_objects", name)
        return ("services", service, "value_objects", name)

    def error(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.diagnostics.append(self.pos.at(path, message, key=key))

    def check_name(self, kind: str, name: str, path: Path_) -> bool:
        rule, shape, example = _NAME_RULES[kind]
        reason = unsafe_reason(name)
        if reason is None and not rule.match(name):
            reason = f"use {shape} (e.g. '{example}')"
        if reason is not None:
            self.error(path, f"{kind} name '{name}' is not a safe identifier: {reason}", key=True)
            return False
        return True

    def unknown(self, path: Path_, kind: str, name: str, known: Iterable[str]) -> None:
        self.error(path, f"{kind} '{name}' is not declared{did_you_mean(name, known)}")

    @staticmethod
    def base_type(text: str) -> str:
        """The type a field's type names: OrderLine for list[OrderLine]."""
        match = LIST_RE.match(text.strip())
        return match.group(1) if match else text.strip()

    def check_scopes(self, scopes: list[str], path: Path_) -> None:
        for index, scope in enumerate(scopes):
            if not SCOPE_RE.match(scope):
                self.error(
                    (*path, index), f"scope '{scope}' is not valid: use words joined by ':' (e.g. orders:create)"
                )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each elementary cycle found by depth-first search, once, as [a, b, ..., a]."""
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(cycle)
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [])
    return found
