"""The pattern of a decimal sent as a string, with its bounds in it.

A contract sends decimals as strings (exact, unlike JSON numbers), and JSON Schema's ``minimum`` and
``maximum`` do not apply to strings: the bounds go into the pattern, so that every validator and
generator of test data (schemathesis) keeps to them. The pattern matches exactly the texts the
service accepts in that shape: an optional ``-``, 1 to ``precision - scale`` whole digits (leading
zeros allowed), an optional fraction of 1 to ``scale`` digits, and a value within the bounds.

How: a text is read as a fixed-width row of digits (whole part padded with leading zeros, fraction
with trailing zeros), where numeric order is the order of the rows. A range of rows is a few
alternatives of one digit class per position (the classic range-to-regex split); each alternative
becomes a pattern where a leading zero of the whole part, or a trailing zero of the fraction, may be
left out.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

Digits = tuple[int, int]  # a digit class: lowest and highest digit


def decimal_pattern(precision: int, scale: int, low: Decimal | None, high: Decimal | None) -> str:
    """The anchored pattern of a decimal(precision, scale) text within [low, high] (None: no bound)."""
    whole = max(precision - scale, 1)
    step = Decimal(1).scaleb(-scale)
    largest = Decimal(10) ** (precision - scale) - step if precision > scale else Decimal(1) - step
    # With no whole digits (precision == scale), the service takes "0.5" and "0.0" but not "0".
    point = precision == scale
    signed = low is None or low < 0  # "-0" is a negative text: allowed only where negatives are
    low = -largest if low is None else max(low.quantize(step, rounding=ROUND_CEILING), -largest)
    high = largest if high is None else min(high.quantize(step, rounding=ROUND_FLOOR), largest)
    fraction = rf"(\.\d{{1,{scale}}})?" if scale else ""
    plain = rf"\d{{1,{whole}}}{fraction}"
    if low > high:  # no value at all: a pattern nothing matches
        return r"^(?!)$"
    negative = _rows(max(-high, Decimal(0)), -low, whole, scale) if signed else None
    positive = _rows(max(low, Decimal(0)), high, whole, scale) if high >= 0 else None
    if negative == positive:  # symmetric bounds
        assert positive is not None
        return f"^-?{plain}$" if _full(positive) else f"^-?{_alternatives(positive, whole, point)}$"
    parts: list[str] = []
    if negative is not None:
        parts.append("-" + (plain if _full(negative) else _alternatives(negative, whole, point)))
    if positive is not None:
        parts.append(plain if _full(positive) else _alternatives(positive, whole, point))
    return f"^{parts[0]}$" if len(parts) == 1 else f"^(?:{'|'.join(parts)})$"


def _rows(low: Decimal, high: Decimal, whole: int, scale: int) -> list[list[Digits]]:
    """The rows of digits from `low` to `high` (both >= 0), as alternatives of digit classes."""
    width = whole + scale
    lo = str(int(low.scaleb(scale))).zfill(width)
    hi = str(int(high.scaleb(scale))).zfill(width)
    return _split(lo, hi)


def _split(lo: str, hi: str) -> list[list[Digits]]:
    if not lo:
        return [[]]
    first_lo, first_hi = int(lo[0]), int(hi[0])
    if first_lo == first_hi:
        return [[(first_lo, first_lo), *rest] for rest in _split(lo[1:], hi[1:])]
    size = len(lo) - 1
    out: list[list[Digits]] = []
    start, end = first_lo, first_hi
    if lo[1:] != "0" * size:
        out += [[(first_lo, first_lo), *rest] for rest in _split(lo[1:], "9" * size)]
        start += 1
    tail = hi[1:] != "9" * size
    if tail:
        end -= 1
    if start <= end:
        out.append([(start, end), *[(0, 9)] * size])
    if tail:
        out += [[(first_hi, first_hi), *rest] for rest in _split("0" * size, hi[1:])]
    return out


def _full(alternatives: list[list[Digits]]) -> bool:
    return len(alternatives) == 1 and all(c == (0, 9) for c in alternatives[0])


def _alternatives(alternatives: list[list[Digits]], whole: int, point: bool) -> str:
    texts = [_whole(row[:whole]) + _fraction(row[whole:], point) for row in alternatives]
    return texts[0] if len(texts) == 1 else f"(?:{'|'.join(texts)})"


def _whole(classes: list[Digits]) -> str:
    """The whole part: any leading run of positions that may be 0 may be left out (one digit stays)."""
    cut = next((i for i, c in enumerate(classes) if c[0] > 0), len(classes))
    cut = min(cut, len(classes) - 1)
    return _suffixes(classes[:cut]) + _fixed(classes[cut:])


def _fraction(classes: list[Digits], point: bool) -> str:
    """The fraction: any trailing run of positions that may be 0 may be left out, with the '.' if all are
    (and `point` is false)."""
    if not classes:
        return ""
    keep = len(classes)
    while keep > 0 and classes[keep - 1][0] == 0:
        keep -= 1
    keep = max(keep, 1) if point else keep
    if keep == 0:
        return rf"(?:\.{_fixed(classes[:1])}{_prefixes(classes[1:])})?"
    return rf"\.{_fixed(classes[:keep])}{_prefixes(classes[keep:])}"


def _groups(classes: list[Digits]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for c in classes:
        text = r"\d" if c == (0, 9) else str(c[0]) if c[0] == c[1] else f"[{c[0]}-{c[1]}]"
        if out and out[-1][0] == text:
            out[-1] = (text, out[-1][1] + 1)
        else:
            out.append((text, 1))
    return out


def _fixed(classes: list[Digits]) -> str:
    return "".join(text if n == 1 else f"{text}{{{n}}}" for text, n in _groups(classes))


def _suffixes(classes: list[Digits]) -> str:
    """A pattern of every suffix of `classes`, the empty one included."""
    pattern = ""
    for text, n in _groups(classes):
        if not pattern:
            pattern = f"{text}?" if n == 1 else f"{text}{{0,{n}}}"
        elif n == 1:
            pattern = f"(?:{pattern}{text})?"
        else:
            pattern = f"(?:{pattern}{text}{{{n}}}|{text}{{0,{n - 1}}})"
    return pattern


def _prefixes(classes: list[Digits]) -> str:
    """A pattern of every prefix of `classes`, the empty one included."""
    pattern = ""
    for text, n in reversed(_groups(classes)):
        if not pattern:
            pattern = f"{text}?" if n == 1 else f"{text}{{0,{n}}}"
        elif n == 1:
            pattern = f"(?:{text}{pattern})?"
        else:
            pattern = f"(?:{text}{{{n}}}{pattern}|{text}{{0,{n - 1}}})"
    return pattern
