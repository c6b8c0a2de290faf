"""The escapers of msgen.render.escape: whatever the text, the target language reads it back unchanged."""

from __future__ import annotations

import ast
import json
import shlex
import tomllib
import types

import jinja2
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from msgen.render import environment, escape
from msgen.render.escape import SpecText

# Any text, with the characters that trouble each language made likely.
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\"'\\{}%$`#:\n\t\r\x00\x1b\x7f\x85\u2028<>&*_[]|N")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(TEXT)
@example('x"""')  # ends with an escaped triple quote: its last quote is escaped already
@example('x"""\nopen("PWNED", "w").close()\n"""')
@example('ends with an escaped backslash\\"')
def test_python_literal_and_docstring_read_back(text: str) -> None:
    assert ast.literal_eval(escape.py_string(text)) == text
    module = ast.parse(f'"""{escape.py_docstring_text(text)}"""\nx = 1\n')
    assert ast.get_docstring(module, clean=False) == text
    assert "\n" not in escape.py_comment(text)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_toml_yaml_and_json_read_back(text: str) -> None:
    assert tomllib.loads(f"x = {escape.toml_string(text)}\n") == {"x": text}
    assert yaml.safe_load(f"x: {escape.yaml_scalar(text)}\n") == {"x": text}
    assert json.loads(escape.json_string(text)) == text


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_shell_word_is_one_word(text: str) -> None:
    if "\x00" not in text:  # a shell word cannot hold NUL; the resolver refuses it in spec text
        assert shlex.split(escape.shell_word(text)) == [text]


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_markdown_and_dockerfile_keep_markup_and_variables_out(text: str) -> None:
    inline = escape.markdown_inline(text)
    assert "<" not in inline and "\n" not in inline
    assert all(inline[i - 1] == "\\" for i, c in enumerate(inline) if c in "*_`[]|")
    code = escape.markdown_code(text)
    fence = code[: len(code) - len(code.lstrip("`"))]
    assert fence not in code[len(fence) : -len(fence)]
    word = escape.dockerfile_string(text)
    assert word.startswith('"') and word.endswith('"') and "\n" not in word
    inner = word[1:-1]
    assert all(inner[i - 1] == "\\" for i, c in enumerate(inner) if c in '$"')


def test_a_template_cannot_print_spec_text_raw() -> None:
    template = environment().from_string("{{ text }}")
    with pytest.raises(TypeError, match="printed raw in a template"):
        template.render(text=SpecText("x"))
    assert environment().from_string("{{ text | toml }}").render(text=SpecText('a"b')) == '"a\\"b"'
    assert template.render(text="an identifier msgen computed") == "an identifier msgen computed"
    for laundering in ("{{ text | replace('a', 'b') }}", "{{ text | upper }}", "{{ text | trim }}"):
        with pytest.raises(TypeError, match="printed raw in a template"):
            environment().from_string(laundering).render(text=SpecText("a text"))
    with pytest.raises(jinja2.TemplateError):
        environment().from_string("{{ text | no_such_filter }}")


def test_an_f_string_cannot_paste_spec_text_and_edits_keep_the_mark() -> None:
    text = SpecText("Takes orders.")
    with pytest.raises(TypeError, match="printed raw"):
        f"{text}"
    with pytest.raises(TypeError):
        format(text, "")
    for edited in (text.rstrip("."), text + "!", "» " + text, text[1:], text.replace("a", "b"), text.strip()):
        assert isinstance(edited, SpecText)
    assert type(escape.plain(text)) is str
    assert isinstance(str(text), SpecText)
    assert f"{text!r}" == "'Takes orders.'"


@pytest.mark.parametrize("text", ["a\x00b", "esc\x1b[31m", "cr\rlf", "del\x7f", "nel\x85", "ls\u2028"])
def test_control_characters_are_refused_and_not_echoed(text: str) -> None:
    reason = escape.refused_characters(text)
    assert reason is not None and "U+" in reason
    assert not any(c in reason for c in text if not c.isalnum() and c != " ")


def test_one_line_values_refuse_newlines_and_tabs() -> None:
    assert escape.refused_characters("a\nb", newlines=False) is not None
    assert escape.refused_characters("a\tb", newlines=False) is not None
    assert escape.refused_characters("a\nb\tc") is None


def test_a_mail_text_is_an_f_string_only_with_placeholders() -> None:
    class Event:
        order_id = "o-1"

    namespace = {"event": Event()}
    with_field = escape.mail_text_literal(SpecText('Order {order_id} """ \\N'))
    assert with_field.startswith("f") and eval(with_field, namespace) == 'Order o-1 """ \\N'
    without = escape.mail_text_literal(SpecText("Braces {{ }} and quotes '\""))
    assert not without.startswith("f") and ast.literal_eval(without) == "Braces { } and quotes '\""


@pytest.mark.parametrize(
    "text",
    ["Order {order_id} is paid {{", "a {{x}} {order_id} }}", "no field {{ }}", "q \"{order_id}\" \\ '{order_id}'"],
)
def test_a_mail_text_reads_as_python_formats_it(text: str) -> None:
    """Literal braces stay braces (an unclosed `{{` used to become `{event.{event.` and break generation)."""
    literal = escape.mail_text_literal(text)
    ast.parse(literal, mode="eval")
    event = types.SimpleNamespace(order_id="O-1")
    assert eval(literal, {"event": event}) == text.format(order_id="O-1")
