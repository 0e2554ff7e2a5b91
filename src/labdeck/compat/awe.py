"""The research web server's HTML templates: ``${VAR}`` variables and nested repeating blocks;
its page base class, :class:`HtmlBase`, lives in :mod:`labdeck.compat.awepage` and is
imported from here too.

::

    t = HtmlTemplate(template_string=(
        "<h1>${TITLE}</h1><table>"
        "${_BEGIN_ROW}<tr><td>${NAME}</td>${_BEGIN_CELL}<td>${V}</td>${_END_CELL}</tr>${_END_ROW}"
        "</table>"))
    t.setVariable("TITLE", "Runs")
    t.beginBlock("ROW")
    t.setBlockVariable("NAME", "run 1")
    t.insertRepeatingBlock("CELL", [{"V": 0.91}, {"V": 0.87}])
    t.updateBlock()
    html = t.getHtml()

The calls keep the original's names. What a value becomes:

- every value is converted with ``str`` and HTML-escaped, unless it is marked safe: ``safe(s)``
  here, or any object with an ``__html__`` method (Jinja2's and MarkupSafe's ``Markup``);
- a variable in the template that nobody set renders as nothing;
- a variable set but found nowhere in the template draws an :class:`UnusedVariableWarning`
  when the page is rendered (a misspelt name shows up instead of vanishing).

A block is filled one instance at a time: :meth:`HtmlTemplate.beginBlock` opens an instance of a
block found inside the block currently open (or at the top), ``setBlockVariable`` fills it,
blocks inside it are filled the same way, and :meth:`HtmlTemplate.updateBlock` closes it and
appends its HTML where the block stands. A block never filled renders as nothing. Inside an
instance, a name is looked up in that instance, then in the instances around it, then among
the page's variables.
"""

from __future__ import annotations

import html
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from labdeck.compat.awepage import HtmlBase
from labdeck.exceptions import IllegalTransition, InvalidArguments

__all__ = ["HtmlBase", "HtmlTemplate", "TemplateError", "UnusedVariableWarning", "safe"]

_TAG = re.compile(r"\$\{(_BEGIN_|_END_)?([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(InvalidArguments):
    """The template text is malformed (an unclosed or crossed block), or a block call names a
    block that is not where the call says."""


class UnusedVariableWarning(UserWarning):
    """A variable was set that the template never uses."""


class _Html(Protocol):
    def __html__(self) -> str: ...


@dataclass(frozen=True)
class _Safe:
    text: str

    def __html__(self) -> str:
        return self.text


def safe(text: str) -> _Html:
    """Mark ``text`` as HTML to insert as it is (never escaped). Only for text you wrote or
    sanitised yourself: anything from a request must go in unmarked."""
    return _Safe(text)


@dataclass
class _Block:
    """A block of the template: its text, variables and the blocks inside it, in order."""

    name: str
    parts: list[str | _Var | _Block] = field(default_factory=list)


@dataclass(frozen=True)
class _Var:
    name: str


@dataclass
class _Instance:
    """One filling of a block: its own variables and, per inner block, the HTML of the inner
    instances closed so far."""

    block: _Block
    values: dict[str, Any] = field(default_factory=dict)
    filled: dict[str, list[str]] = field(default_factory=dict)


def _parse(text: str) -> _Block:
    root = _Block("")
    stack = [root]
    pos = 0
    for tag in _TAG.finditer(text):
        if tag.start() > pos:
            stack[-1].parts.append(text[pos : tag.start()])
        pos = tag.end()
        kind, name = tag.group(1), tag.group(2)
        if kind is None:
            stack[-1].parts.append(_Var(name))
        elif kind == "_BEGIN_":
            block = _Block(name)
            stack[-1].parts.append(block)
            stack.append(block)
        elif stack[-1] is root or stack[-1].name != name:
            open_block = "the top of the page" if stack[-1] is root else f"block {stack[-1].name}"
            raise TemplateError(f"${{_END_{name}}} closes nothing: {open_block} is open there")
        else:
            stack.pop()
    if len(stack) > 1:
        raise TemplateError(f"block {stack[-1].name} is never closed (no ${{_END_{stack[-1].name}}})")
    if pos < len(text):
        root.parts.append(text[pos:])
    return root


def _child(block: _Block, name: str) -> _Block | None:
    """The block ``name`` directly inside ``block`` (not deeper: its instances would have no
    place to go)."""
    for part in block.parts:
        if isinstance(part, _Block) and part.name == name:
            return part
    return None


def _path_to(block: _Block, name: str) -> list[str] | None:
    """The names of the blocks that lead from ``block`` down to block ``name``."""
    for part in block.parts:
        if isinstance(part, _Block):
            if part.name == name:
                return [name]
            below = _path_to(part, name)
            if below is not None:
                return [part.name, *below]
    return None


def _text(value: Any) -> str:
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value), quote=True)


class HtmlTemplate:
    """A page template of the research web server, filled by name.

    Args:
        filename: the template file (UTF-8). Give this or ``template_string``.
        template_string: the template text itself.

    Raises:
        TemplateError: neither or both given, or the blocks in the text do not nest.
        FileNotFoundError: ``filename`` does not exist.
    """

    def __init__(self, filename: str | os.PathLike[str] | None = None, template_string: str | None = None) -> None:
        if (filename is None) == (template_string is None):
            raise TemplateError("HtmlTemplate needs a filename or a template_string, not both")
        if template_string is None:
            with open(filename, encoding="utf-8") as f:  # type: ignore[arg-type]
                template_string = f.read()
        self._root = _parse(template_string)
        self._open: list[_Instance] = [_Instance(self._root)]
        self._set: set[str] = set()

    # -- page variables ----------------------------------------------------------------

    def setVariable(self, name: str, value: Any) -> None:
        """Set the page variable ``${name}``; it is also seen inside every block."""
        self._open[0].values[name] = value
        self._set.add(name)

    def setVariableDict(self, values: Mapping[str, Any]) -> None:
        """Set every ``name: value`` of ``values`` as a page variable."""
        for name, value in values.items():
            self.setVariable(name, value)

    def setVariableList(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """Set page variables from ``(name, value)`` pairs, in order (a later one wins)."""
        for name, value in pairs:
            self.setVariable(name, value)

    # -- blocks ------------------------------------------------------------------------

    def beginBlock(self, name: str) -> None:
        """Open a new instance of block ``name``, inside the instance open now.

        Raises:
            TemplateError: there is no block ``name`` inside the open one.
        """
        current = self._open[-1]
        block = _child(current.block, name)
        if block is None:
            where = "the page" if current.block is self._root else f"block {current.block.name}"
            path = _path_to(current.block, name)
            hint = f": open {' then '.join(path[:-1])} first" if path else ""
            raise TemplateError(f"no block {name} directly inside {where}{hint}")
        self._open.append(_Instance(block))

    def setBlockVariable(self, name: str, value: Any) -> None:
        """Set ``${name}`` in the block instance open now.

        Raises:
            IllegalTransition: no block is open (call ``beginBlock`` first).
        """
        if len(self._open) == 1:
            raise IllegalTransition(f"setBlockVariable({name!r}) with no block open: call beginBlock first")
        self._open[-1].values[name] = value
        self._set.add(name)

    def updateBlock(self, name: str | None = None) -> None:
        """Close the block instance open now and append its HTML where the block stands.

        Args:
            name: if given, the block that must be the one open (a check on the caller).

        Raises:
            IllegalTransition: no block is open, or a different one than ``name``.
        """
        if len(self._open) == 1:
            raise IllegalTransition("updateBlock() with no block open")
        current = self._open[-1]
        if name is not None and name != current.block.name:
            raise IllegalTransition(f"updateBlock({name!r}) but block {current.block.name} is the one open")
        self._open.pop()
        html_text = self._render(current.block, [*self._open, current])
        self._place(current.block, html_text)

    def insertBlock(self, name: str, values: Mapping[str, Any] | None = None) -> None:
        """One instance of block ``name`` with ``values``, opened and closed at once."""
        self.beginBlock(name)
        for key, value in (values or {}).items():
            self.setBlockVariable(key, value)
        self.updateBlock()

    def insertRepeatingBlock(self, name: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """One instance of block ``name`` per mapping of ``rows``, in order."""
        for row in rows:
            self.insertBlock(name, row)

    # -- output ------------------------------------------------------------------------

    def getHtml(self) -> str:
        """The page as HTML. Warns (:class:`UnusedVariableWarning`) of variables set but not in
        the template.

        Raises:
            IllegalTransition: a block is still open (every ``beginBlock`` needs its
                ``updateBlock``).
        """
        if len(self._open) > 1:
            raise IllegalTransition(f"block {self._open[-1].block.name} is still open: call updateBlock first")
        unused = sorted(self._set - _names(self._root))
        if unused:
            warnings.warn(f"set but not in the template: {', '.join(unused)}", UnusedVariableWarning, stacklevel=2)
        return self._render(self._root, self._open)

    def _place(self, block: _Block, html_text: str) -> None:
        self._open[-1].filled.setdefault(block.name, []).append(html_text)

    def _render(self, block: _Block, scope: list[_Instance]) -> str:
        here = scope[-1]
        out: list[str] = []
        for part in block.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, _Var):
                out.append(_lookup(scope, part.name))
            else:
                out.extend(here.filled.get(part.name, ()))
        return "".join(out)


def _lookup(scope: list[_Instance], name: str) -> str:
    for instance in reversed(scope):
        if name in instance.values:
            return _text(instance.values[name])
    return ""


def _names(block: _Block) -> set[str]:
    names: set[str] = set()
    for part in block.parts:
        if isinstance(part, _Var):
            names.add(part.name)
        elif isinstance(part, _Block):
            names |= _names(part)
    return names
