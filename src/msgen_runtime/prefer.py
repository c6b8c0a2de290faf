"""RFC 7240's `Prefer` request header, as far as msgen answers it: the `wait` preference.

A create that starts a saga reads it (`msgen_runtime.messaging.saga.settle`) to answer with the saga's
final state in one request; the gateway reads it to wait as long for the answer (`Route.max_wait`).
"""

from __future__ import annotations

__all__ = ["PREFERENCE_APPLIED", "PREFER_HEADER", "preferred_wait"]

PREFER_HEADER = "Prefer"
PREFERENCE_APPLIED = "Preference-Applied"


def preferred_wait(prefer: str | None) -> float | None:
    """The seconds of RFC 7240's `wait` preference in a `Prefer` header; None when it asks none.

    `Prefer: respond-async, wait=5` gives 5.0. A preference that cannot be read is ignored, as RFC 7240
    says of preferences a server does not understand.
    """
    if not prefer or len(prefer) > 1024:
        return None
    for preference in prefer.split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"')
        if value.isascii() and value.isdigit() and len(value) <= 9:
            return float(value)
        return None
    return None
