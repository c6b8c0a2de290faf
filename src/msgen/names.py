"""Name conversions and the safe-identifier rules every spec name must follow."""

from __future__ import annotations

import keyword
import re

SERVICE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
TYPE_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}\Z")
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")
EVENT_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
OPERATION_RE = re.compile(r"^[a-z][A-Za-z0-9]{0,62}\Z")
ENUM_VALUE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}\Z")
SCOPE_RE = re.compile(r"^[a-z][a-z0-9_.-]*(:[a-z][a-z0-9_.-]*)*\Z")
PATH_SEGMENT_RE = re.compile(r"^([a-z0-9][a-z0-9._-]*|\{[a-z][a-z0-9_]*\})\Z")

# A service cannot take this name: contracts/openapi/public.<version>.yaml is the gateway's public contract.
PUBLIC_CONTRACT = "public"

# Names a generated module, class or column would collide with.
RESERVED_FIELDS = frozenset({"id", "created_at", "updated_at", "metadata", "registry"})

# The other arguments of a generated route, handler or client method: a path parameter of one of these
# names (or a keyword) is renamed in Python (`param_var`); a query parameter may not take one.
GENERATED_ARGUMENTS = frozenset(
    {"session", "payload", "page", "cache", "request", "self", "limit", "offset", "idempotency"}
)


def param_var(name: str) -> str:
    """The Python argument of path parameter `name`: `from_` for `{from}`, the name itself otherwise."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in GENERATED_ARGUMENTS:
        return f"{name}_"
    return name


def unsafe_reason(name: str) -> str | None:
    """Why `name` can never be an identifier in generated code, if it can't."""
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if ".." in name:
        return "it contains '..'"
    if any(mark in name for mark in ("{{", "}}", "{%", "%}", "{#", "#}", "${")):
        return "it contains template syntax"
    if keyword.iskeyword(name):
        return "it is a Python keyword"
    if name.startswith("model_"):
        return "names starting with 'model_' are reserved by pydantic"
    return None


def snake(name: str) -> str:
    """PlaceOrder / placeOrder / place-order -> place_order."""
    text = re.sub(r"[-.\s]+", "_", name)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return text.lower()


def pascal(name: str) -> str:
    """order.created / place_order / stockItem -> OrderCreated / PlaceOrder / StockItem."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._\-\s]+", name) if part)


def kebab(name: str) -> str:
    return snake(name).replace("_", "-")


def plural(word: str) -> str:
    """A plain English plural, good enough for resource paths."""
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


def count(number: int, noun: str) -> str:
    """'1 saga', '2 sagas', '0 sagas'."""
    return f"{number} {noun if number == 1 else plural(noun)}"


def a(noun: str) -> str:
    """'Order' -> 'an Order', 'Product' -> 'a Product'."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def sentence(text: str) -> str:
    """Upper-case the first letter only: 'an Order' -> 'An Order'."""
    return text[:1].upper() + text[1:]
