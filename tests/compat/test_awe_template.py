"""The research web server's templates: variables, nested repeating blocks, escaping, warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from labdeck.compat.awe import HtmlTemplate, TemplateError, UnusedVariableWarning, safe
from labdeck.exceptions import IllegalTransition

TABLE = (
    "<h1>${TITLE}</h1><table>"
    "${_BEGIN_ROW}<tr><th>${NAME}</th>${_BEGIN_CELL}<td>${V} ${UNIT}</td>${_END_CELL}</tr>${_END_ROW}"
    "</table>"
)


def test_variables_and_nested_repeating_blocks_fill_a_table() -> None:
    t = HtmlTemplate(template_string=TABLE)
    t.setVariableDict({"TITLE": "Runs", "UNIT": "%"})
    for name, values in (("run 1", [91, 87]), ("run 2", [78])):
        t.beginBlock("ROW")
        t.setBlockVariable("NAME", name)
        t.insertRepeatingBlock("CELL", [{"V": v} for v in values])
        t.updateBlock("ROW")
    assert t.getHtml() == (
        "<h1>Runs</h1><table>"
        "<tr><th>run 1</th><td>91 %</td><td>87 %</td></tr>"
        "<tr><th>run 2</th><td>78 %</td></tr>"
        "</table>"
    )


def test_a_block_never_filled_and_a_variable_never_set_render_as_nothing() -> None:
    t = HtmlTemplate(template_string=TABLE)
    assert t.getHtml() == "<h1></h1><table></table>"


def test_an_inner_value_hides_an_outer_one_only_inside_its_instance() -> None:
    t = HtmlTemplate(template_string="${X}${_BEGIN_B}[${X}]${_END_B}${X}")
    t.setVariable("X", "page")
    t.insertBlock("B", {"X": "block"})
    t.insertBlock("B")
    assert t.getHtml() == "page[block][page]page"


def test_values_are_escaped_unless_marked_safe() -> None:
    t = HtmlTemplate(template_string='<a title="${T}">${BODY}</a>${RAW}')
    t.setVariable("T", '"><script>alert(1)</script>')
    t.setVariable("BODY", "<b>&</b>")
    t.setVariable("RAW", safe("<em>kept</em>"))
    assert t.getHtml() == (
        '<a title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&lt;b&gt;&amp;&lt;/b&gt;</a><em>kept</em>'
    )


def test_a_value_that_looks_like_a_tag_is_text_not_template() -> None:
    t = HtmlTemplate(template_string="${A}|${B}")
    t.setVariable("A", "${B}")
    t.setVariable("B", "b")
    assert t.getHtml() == "${B}|b"


def test_a_variable_set_but_not_in_the_template_is_warned_of() -> None:
    t = HtmlTemplate(template_string="<p>${NAME}</p>")
    t.setVariable("NAME", "ada")
    t.setVariable("NMAE", "typo")
    with pytest.warns(UnusedVariableWarning, match="NMAE"):
        assert t.getHtml() == "<p>ada</p>"
    t = HtmlTemplate(template_string="<p>${NAME}</p>")
    t.setVariable("NAME", "ada")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t.getHtml()


def test_set_variable_list_takes_pairs_in_order() -> None:
    t = HtmlTemplate(template_string="${A}${B}")
    t.setVariableList([("A", 1), ("B", 2), ("A", 3)])
    assert t.getHtml() == "32"


def test_a_template_from_a_file(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<title>${TITLE}</title>", encoding="utf-8")
    t = HtmlTemplate(page)
    t.setVariable("TITLE", "Ångström")
    assert t.getHtml() == "<title>Ångström</title>"
    with pytest.raises(FileNotFoundError):
        HtmlTemplate(tmp_path / "missing.html")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${_BEGIN_A}x", "block A is never closed"),
        ("x${_END_A}", "closes nothing"),
        ("${_BEGIN_A}${_BEGIN_B}${_END_A}${_END_B}", "block B is open there"),
    ],
)
def test_blocks_that_do_not_nest_are_refused_with_the_block_named(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        HtmlTemplate(template_string=text)


def test_block_calls_out_of_order_say_what_to_do() -> None:
    with pytest.raises(TemplateError, match="filename or a template_string"):
        HtmlTemplate()
    t = HtmlTemplate(template_string=TABLE)
    with pytest.raises(TemplateError, match="open ROW first"):
        t.beginBlock("CELL")
    with pytest.raises(TemplateError, match="no block NOPE"):
        t.beginBlock("NOPE")
    with pytest.raises(IllegalTransition, match="beginBlock first"):
        t.setBlockVariable("NAME", "x")
    with pytest.raises(IllegalTransition, match="no block open"):
        t.updateBlock()
    t.beginBlock("ROW")
    with pytest.raises(IllegalTransition, match="ROW is the one open"):
        t.updateBlock("CELL")
    with pytest.raises(IllegalTransition, match="ROW is still open"):
        t.getHtml()
    t.updateBlock()
    assert "<tr>" in t.getHtml()
