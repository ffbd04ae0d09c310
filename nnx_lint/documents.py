"""Documentation as programs: the Python code blocks of a Markdown/MyST or reST document, in
order, as a reader runs them, with their real lines and columns; fixed programs written back in
place.

Markdown and MyST are read with markdown-it-py (and mdit-py-plugins for MyST's front matter
and colon fences): fenced blocks whose info string is
``python``, ``py``, ``python3``, ``ipython``, ``ipython3``, or MyST's ``{code-cell}`` (with
those languages, or none). reST is read with docutils: ``code-block``/``code``/``sourcecode``
directives for Python, ``testcode``, ``testsetup`` and Flax's ``codediff`` (each side of it
its own program, in order). An HTML comment ``<!-- nnx-lint: skip -->`` (Markdown) or a
comment ``.. nnx-lint: skip`` (reST) right before a block leaves it out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace

from nnx_lint.notebooks import BOUNDARY, Place, ProgramError, mask, unmask

MARKDOWN_SUFFIXES = (".md", ".markdown")
RST_SUFFIXES = (".rst",)
SUFFIXES = (*MARKDOWN_SUFFIXES, *RST_SUFFIXES)
PYTHON = frozenset({"python", "py", "python3", "ipython", "ipython3", "pycon"})
SKIP = "nnx-lint: skip"
MYST_CODE = frozenset({"{code-block}", "{code}", "{sourcecode}"})  # MyST's directives


class DocumentError(ProgramError):
    """A document whose code cannot be read or written back; the message names no path."""


@dataclass(frozen=True)
class Block:
    start: int  # 0-based index of its first code line in the document's lines
    count: int  # how many lines of the document it spans
    indent: str  # the indentation its lines carry in the document
    start_line: int  # 1-based line of the program where it starts
    # A doctest (`>>> ` and `... ` lines, the rest expected output): its code starts 4
    # columns further in; it is checked, never rewritten.
    doctest: bool = False


@dataclass(frozen=True)
class Document:
    text: str
    lines: tuple[str, ...]  # the document's lines, line endings kept
    blocks: tuple[Block, ...]
    program: str
    masked: tuple[str, ...]
    # Code that is its own program, checked but never rewritten: each doctest, and the first
    # side of each Flax `codediff` (the code before: Linen, Haiku, an older API).
    asides: tuple[Document, ...] = ()
    why_no_fix: str = ""  # for an aside: why its findings carry no fix

    def block_at(self, line: int) -> Block | None:
        """The block a program line belongs to."""
        return next((b for b in reversed(self.blocks) if line >= b.start_line), None)

    def locate(self, line: int) -> tuple[int, int]:
        """The document line of a program line, and the columns its code is shifted by."""
        block = self.block_at(line)
        if block is None:
            return 1, 0
        offset = min(line - block.start_line, max(block.count - 1, 0))
        return block.start + offset + 1, len(block.indent) + (4 if block.doctest else 0)

    def place(self, line: int) -> Place:
        """The document line of a program line, and the columns its code is shifted by."""
        at, shift = self.locate(line)
        block = self.block_at(line)
        return Place(None, at, shift, block.start if block is not None else 0)

    def line_text(self, line: int) -> str | None:
        """The document's own text of a line (indentation and all)."""
        return self.lines[line - 1].rstrip("\r\n") if line <= len(self.lines) else None

    def with_program(self, program: str) -> str:
        """The document with each block's lines taken from a fixed program; only the blocks
        whose code changed are rewritten."""
        body = program[:-1] if program.endswith("\n") else program
        parts = body.split(f"\n{BOUNDARY}\n")
        if len(parts) != len(self.blocks):
            raise DocumentError("a fix moved a block boundary")
        lines = list(self.lines)
        newline = _newline(self.text)
        for block, part in reversed(list(zip(self.blocks, parts, strict=True))):
            old = "".join(self.lines[block.start : block.start + block.count])
            code = unmask(part, self.masked).split("\n")
            blank = block.indent.rstrip()  # `>` in a blockquote, else nothing
            new = [f"{block.indent}{line}{newline}" if line else blank + newline for line in code]
            if "".join(new) != old:
                lines[block.start : block.start + block.count] = new
        return "".join(lines)


def _prefix(raw: list[str], quote: str = "") -> str:
    """What every line of a block starts with in the document: its indentation, or the given
    blockquote marks (`> `; a blank line there may be a bare `>`)."""
    if quote and all(x.startswith(quote) or x.strip() == quote.strip() for x in raw):
        return quote
    indent = min(len(x) - len(x.lstrip()) for x in raw if x.strip())
    prefix = raw[0][:indent]
    if not all(x.startswith(prefix) or not x.strip() for x in raw):
        return ""  # mixed tabs and spaces: left as it is
    return prefix


def _doctest_code(lines: list[str]) -> list[str]:
    """A doctest's code, line for line: the text after `>>> ` and `... `; output lines blank."""
    out = []
    for line in lines:
        if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
            out.append(line[4:])
        else:
            out.append("")
    return out


def _parses(code: str) -> bool:
    """Is the block Python on its own (IPython lines masked)? Documentation holds excerpts
    (``...``), other languages marked as Python, and errors shown on purpose: those blocks
    are left out, not reported."""
    source = mask(code, [])
    try:
        ast.parse(source)
    except SyntaxError:
        try:  # a grammar newer than the running interpreter's (PEP 695, PEP 701)
            import libcst as cst

            cst.parse_module(source)
        except Exception:
            return False
    except (ValueError, RecursionError, MemoryError):
        return False
    return True


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


DOCTEST_NOT_REWRITTEN = "nnx-lint does not rewrite doctest examples"


def _lines(text: str) -> list[str]:
    """The text's lines, line endings kept, split at ``\n`` only (as Markdown and reST count
    lines: a form feed or U+2028 does not end one)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    return out + [lines[-1]] if lines[-1] else out


Span = tuple[int, int] | tuple[int, int, str]  # lines [start, end), and a blockquote's `> `


def _program(text: str, spans: list[Span], standalone: bool = False) -> Document:
    """The document whose code blocks are the lines ``[start, end)`` of each span. A block
    whose first line starts with ``>>>`` is a doctest: its own program, an aside (unless
    ``standalone``: the one block of such an aside)."""
    lines = tuple(_lines(text))
    doctests: list[Span] = []
    blocks: list[Block] = []
    chunks: list[str] = []
    masked: list[str] = []
    line = 1
    for span in spans:
        start, end = span[0], span[1]
        quote = span[2] if len(span) == 3 else ""
        raw = [x.rstrip("\r\n") for x in lines[start:end]]
        while raw and not raw[-1].strip():  # blank lines around it stay the document's
            raw.pop()
            end -= 1
        while raw and not raw[0].strip():
            raw.pop(0)
            start += 1
        if not raw:
            continue
        prefix = _prefix(raw, quote)
        dedented = [x[len(prefix) :] if x.startswith(prefix) else "" for x in raw]
        doctest = dedented[0].startswith(">>>")
        if doctest and not standalone:
            doctests.append((start, end, quote))
            continue
        code = "\n".join(_doctest_code(dedented) if doctest else dedented)
        if not _parses(code):
            continue  # pseudo-code, an excerpt, or an error shown on purpose: not a program
        blocks.append(Block(start, end - start, prefix, line, doctest))
        chunks.append(mask(code, masked))
        line += len(raw) + 1
    program = f"\n{BOUNDARY}\n".join(chunks) + "\n" if chunks else ""
    tests = [_program(text, [span], standalone=True) for span in doctests]
    asides = tuple(replace(t, why_no_fix=DOCTEST_NOT_REWRITTEN) for t in tests if t.blocks)
    return Document(text, lines, tuple(blocks), program, tuple(masked), asides)


# Markdown and MyST -----------------------------------------------------------------------------


def parse_markdown(text: str) -> Document:
    from markdown_it import MarkdownIt  # only when a Markdown file is linted
    from mdit_py_plugins.colon_fence import colon_fence_plugin
    from mdit_py_plugins.front_matter import front_matter_plugin

    # MyST: YAML front matter (jupytext's header) and `:::{code-cell}` fences as well.
    parser = MarkdownIt("commonmark").use(front_matter_plugin).use(colon_fence_plugin)
    tokens = parser.parse(text)
    spans: list[Span] = []
    skip = False
    lines = [line.rstrip("\r\n") for line in _lines(text)]
    for token in tokens:
        if token.type == "html_block" and SKIP in token.content:
            skip = True
            continue
        if token.type not in ("fence", "colon_fence") or token.map is None:
            if token.type not in ("html_inline",) and token.nesting >= 0 and token.block:
                skip = skip and token.type in ("paragraph_close",)
            continue
        info = token.info.split()
        words = [w.lower() for w in info]
        python = bool(words) and (
            words[0] in PYTHON
            or (words[0] == "{code-cell}" and (len(words) == 1 or words[1] in PYTHON))
            or (words[0] in MYST_CODE and len(words) > 1 and words[1] in PYTHON)
        )
        if python and not skip:
            start, end = token.map
            first = start + 1
            if words[0] == "{code-cell}":
                first = _after_options(lines, first, end)
            fence = re.match(r"^[ \t]*(?:>[ \t]?)*", lines[start])
            quote = fence[0] if fence and ">" in fence[0] else ""  # the fence is in a blockquote
            closing = lines[end - 1].lstrip(" \t>") if end - 1 > start else ""
            closed = closing.startswith(token.markup)  # (in a blockquote, after its `>`)
            spans.append((first, end - 1 if closed else end, quote))
        skip = False
    return _program(text, spans)


def _after_options(lines: list[str], first: int, end: int) -> int:
    """Past a MyST code cell's options: ``:key: value`` lines, or a ``---`` YAML block."""
    if first < end and lines[first].strip() == "---":
        for i in range(first + 1, end):
            if lines[i].strip() == "---":
                return i + 1
        return first
    while first < end and re.match(r"^\s*:[\w-]+:", lines[first]):
        first += 1
    return first


# reST ------------------------------------------------------------------------------------------

# Directives docutils does not know that hold reST (Sphinx, sphinx-design, sphinx-tabs).
CONTAINERS = (
    "only",
    "tab-set",
    "tab-item",
    "tabs",
    "tab",
    "group-tab",
    "grid",
    "grid-item",
    "grid-item-card",
    "card",
    "dropdown",
    "toggle",
)
CODEDIFF_NOT_REWRITTEN = "the first side of a codediff is not rewritten"
CODE_DIRECTIVES = (
    "code-block",
    "code",
    "sourcecode",
    "testcode",
    "testsetup",
    "codediff",
    "doctest",
)


def parse_rst(text: str) -> Document:
    """The Python blocks of a reST document: docutils parses it, with the code directives
    (and Sphinx's and Flax's, which plain docutils does not know) recording where their
    content lies. A ``codediff``'s second side (Flax NNX, by its ``:title: Before, After``
    convention) goes on the document's program; its first side is an aside."""
    lines = [line.rstrip("\r\n") for line in _lines(text)]
    spans: list[Span] = []
    asides: list[Span] = []
    for directive, start, end, arg in _rst_directives(text):
        before = next((lines[k] for k in range(directive - 1, -1, -1) if lines[k].strip()), "")
        if before.strip().startswith("..") and SKIP in before:
            continue
        if directive_name(lines[directive]) in ("code-block", "code", "sourcecode"):
            if arg.lower() not in PYTHON:
                continue
        if directive_name(lines[directive]) == "codediff":  # each side its own program
            cut = next((i for i in range(start, end) if re.fullmatch(r"\s*---\s*", lines[i])), None)
            if cut is not None:
                asides.append((start, cut))  # before: checked on its own
                spans.append((cut + 1, end))  # after: the document's program goes on
                continue
        spans.append((start, end))
    document = _program(text, spans)
    sides = [replace(_program(text, [span]), why_no_fix=CODEDIFF_NOT_REWRITTEN) for span in asides]
    found = tuple(d for d in sides if d.blocks)  # (and their doctests, if any)
    return replace(document, asides=document.asides + found)


def directive_name(line: str) -> str:
    m = re.match(r"\s*\.\.\s+([\w-]+)::", line)
    return m[1] if m else ""


def _rst_directives(text: str) -> list[tuple[int, int, int, str]]:
    """Each code directive: its 0-based line, its content's lines ``[start, end)``, and its
    argument (the language)."""
    import docutils.frontend
    import docutils.nodes
    import docutils.parsers.rst
    import docutils.utils
    from docutils.parsers.rst import Directive, directives

    found: list[tuple[int, int, int, str]] = []

    class AnyOption(dict[str, object]):
        """Every option is accepted as text (``:caption:``, ``:title:``, ``:sync:``)."""

        def __bool__(self) -> bool:  # docutils reads options only when there is a spec
            return True

        def __contains__(self, key: object) -> bool:
            return True

        def __getitem__(self, key: str) -> object:
            return directives.unchanged

    class Code(Directive):
        has_content = True
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec = AnyOption()  # type: ignore[assignment]  # any name, as text

        def run(self) -> list[docutils.nodes.Node]:
            arg = self.arguments[0] if self.arguments else "python"
            start = self.content_offset
            found.append((self.lineno - 1, start, start + len(self.content), arg))
            return []

    class Container(Directive):
        """A directive docutils does not know that holds reST (Sphinx's `only`, sphinx-design's
        tabs, grids and cards): its content is parsed, so the code in it is found."""

        has_content = True
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec = AnyOption()  # type: ignore[assignment]  # any name, as text

        def run(self) -> list[docutils.nodes.Node]:
            node = docutils.nodes.container()
            self.state.nested_parse(self.content, self.content_offset, node)
            return [node]

    for name in CODE_DIRECTIVES:
        directives.register_directive(name, Code)
    for name in CONTAINERS:
        directives.register_directive(name, Container)
    parser = docutils.parsers.rst.Parser()
    settings = docutils.frontend.get_default_settings(docutils.parsers.rst.Parser)
    settings.report_level = 5  # unknown directives and roles are not our business
    settings.halt_level = 5
    settings.file_insertion_enabled = False
    document = docutils.utils.new_document("<doc>", settings)
    parser.parse(text, document)
    lines = [line.rstrip("\r\n") for line in _lines(text)]
    for node in document.findall(docutils.nodes.doctest_block):  # a `>>>` paragraph
        first = node.rawsource.split("\n", 1)[0].strip()
        end = min(node.line or 1, len(lines))  # docutils gives a line at or past its end
        start = next((i for i in range(end - 1, -1, -1) if lines[i].strip() == first), None)
        if start is not None:
            count = node.rawsource.count("\n") + 1
            found.append((start, start, start + count, "python"))
    return sorted(found)
