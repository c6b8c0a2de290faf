"""A bounded decimal's contract pattern accepts exactly what the service's model accepts."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from typing import Annotated

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError

from msgen.render.decimal_pattern import decimal_pattern


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, int, Decimal | None, Decimal | None, str]:
    scale = draw(st.integers(0, 4))
    precision = draw(st.integers(max(scale, 1), 8))
    bound = st.none() | st.decimals(-(10**precision), 10**precision, places=draw(st.integers(0, 5)))
    low, high = draw(bound), draw(bound)
    whole = max(precision - scale, 1)
    digits = draw(st.text("0123456789", min_size=1, max_size=whole))
    fraction = draw(st.none() | st.text("0123456789", min_size=1, max_size=scale)) if scale else None
    sign = draw(st.sampled_from(["", "-"]))
    return precision, scale, low, high, sign + digits + (f".{fraction}" if fraction else "")


@cache
def model_field(precision: int, scale: int, low: Decimal | None, high: Decimal | None) -> TypeAdapter[Decimal]:
    """The generated model's field: Decimal with max_digits, decimal_places, ge and le."""
    return TypeAdapter(Annotated[Decimal, Field(max_digits=precision, decimal_places=scale, ge=low, le=high)])


def service_accepts(precision: int, scale: int, low: Decimal | None, high: Decimal | None, text: str) -> bool:
    try:
        model_field(precision, scale, low, high).validate_python(text)
    except ValidationError:
        return False
    return not (text.startswith("-") and low is not None and low >= 0)  # "-0" is no value of [0, ...]


@settings(max_examples=400, deadline=None)
@given(cases())
def test_the_pattern_agrees_with_the_service(case: tuple[int, int, Decimal | None, Decimal | None, str]) -> None:
    precision, scale, low, high, text = case
    pattern = decimal_pattern(precision, scale, low, high)
    assert bool(re.fullmatch(pattern, text)) == service_accepts(*case), pattern


def test_bounds_are_in_the_pattern() -> None:
    pattern = decimal_pattern(12, 2, Decimal(-50), Decimal(50))
    assert re.fullmatch(pattern, "-50") and re.fullmatch(pattern, "49.99") and re.fullmatch(pattern, "050.00")
    assert not re.fullmatch(pattern, "-50.01") and not re.fullmatch(pattern, "51")
    assert decimal_pattern(12, 2, None, None) == r"^-?\d{1,10}(\.\d{1,2})?$"  # no bounds: the digits alone
    assert decimal_pattern(12, 2, Decimal(0), None) == r"^\d{1,10}(\.\d{1,2})?$"
