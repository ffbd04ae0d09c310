"""``nnx-lint server``: a Language Server (pygls, over standard input and output).

Diagnostics are published when a Python file is opened, changed (after DEBOUNCE seconds
without another change; a newer change cancels the pending run) and saved. Each file is linted
through its project exactly as the command lints it (``nnx_lint.project``: the same root rule,
``[tool.nnx-lint]`` configuration, class index and cache), with the editor's text rather than
the file on disk. A save, or a file changed on disk (``workspace/didChangeWatchedFiles``),
reopens that file's project (the cache makes it cheap: only changed files are read again), so
the index stays current, and the project's open files are linted again.

Code actions: each finding's fix (an unsafe one says so in its title and is never preferred),
``Add noqa`` for each finding, and ``source.fixAll`` (every safe fix of the file, as ``--fix``).
Hover over a finding shows its rule's documentation.

Jupyter notebooks (LSP notebook documents) are linted as the command lints an ``.ipynb`` file:
the code cells as one program, each finding published on its own cell, when the notebook is
opened, changed (debounced) and saved; their fixes are the command's (``nnx-lint --fix``).
Markdown and reST documents are the command's only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from nnx_lint import __version__
from nnx_lint.config import ConfigError
from nnx_lint.diagnostics import Applicability, Diagnostic, Edit, InternalError, LineIndex
from nnx_lint.files import SOURCE_SUFFIXES
from nnx_lint.project import Project, root_of
from nnx_lint.rules import RULES_BY_CODE

DEBOUNCE = 0.25  # seconds without a change before a changed document is linted
SOURCE = "nnx-lint"
FIX_ALL = types.CodeActionKind.SourceFixAll + ".nnx-lint"


@dataclass(frozen=True)
class _Linted:
    """A document's findings, and the version and text (with its lines) they were found in."""

    version: int | None
    lines: LineIndex
    diagnostics: list[Diagnostic]

    @property
    def text(self) -> str:
        return self.lines.text


class NnxLintServer(LanguageServer):
    def __init__(self) -> None:
        # Whole texts from the client: pygls applies incremental changes by str.splitlines,
        # which also breaks lines at form feeds and the like, where LSP and Python do not.
        super().__init__(
            SOURCE,
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[
                    types.NotebookDocumentFilterWithCells(
                        cells=[types.NotebookCellLanguage("python")], notebook="jupyter-notebook"
                    )
                ]
            ),
        )
        self.projects: dict[Path, Project] = {}
        self.linted: dict[str, _Linted] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}

    def project(self, path: str) -> Project:
        """The project of ``path``, opened once and kept until a file of it is saved."""
        root = root_of(path)
        if root not in self.projects:
            self.projects[root] = opened = Project.open(root, also=[path])
            opened.cache.save()
        return self.projects[root]

    def lint(self, uri: str) -> _Linted | None:
        """Lint the open document ``uri`` and publish its diagnostics."""
        document = self.workspace.get_text_document(uri)
        path = document.path
        if not path.endswith(SOURCE_SUFFIXES):
            return None
        text = document.source
        found = self.check(path, text)
        linted = self.linted[uri] = _Linted(document.version, LineIndex(text), found)
        self.window_log_message(
            types.LogMessageParams(
                types.MessageType.Log,
                f"linted {path} (version {document.version}): {len(found)} finding(s)",
            )
        )
        published = [_lsp_diagnostic(d, document, linted.lines) for d in found]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri, published, document.version)
        )
        return linted

    def check(self, path: str, text: str) -> list[Diagnostic]:
        """The findings of ``text`` at ``path``, through its project; none where the
        configuration is wrong (shown to the user) or nnx-lint fails (logged)."""
        try:
            return self.project(path).check(path, text)
        except ConfigError as exc:  # the user's to mend: said, and nothing stale left shown
            self.window_show_message(types.ShowMessageParams(types.MessageType.Error, str(exc)))
        except InternalError as exc:
            self.window_log_message(
                types.LogMessageParams(types.MessageType.Error, f"{exc}; please report this bug")
            )
        return []

    def current(self, uri: str) -> _Linted | None:
        """The document's findings for its present text (linted again if it changed)."""
        linted = self.linted.get(uri)
        document = self.workspace.get_text_document(uri)
        if linted is None or linted.text != document.source:
            return self.lint(uri)
        return linted

    def later(self, uri: str, *, notebook: bool = False) -> None:
        """Lint ``uri`` (a notebook's) once DEBOUNCE seconds pass without another change."""
        if (task := self.pending.pop(uri, None)) is not None:
            task.cancel()

        async def run() -> None:
            await asyncio.sleep(DEBOUNCE)
            self.pending.pop(uri, None)
            if notebook:
                self.lint_notebook(uri)
            else:
                self.lint(uri)

        self.pending[uri] = asyncio.get_running_loop().create_task(run())

    def lint_notebook(self, uri: str) -> None:
        """Lint the open notebook ``uri`` as its ``.ipynb`` file would be linted, and publish
        each cell's findings on that cell."""
        import json

        from pygls.uris import to_fs_path

        notebook = self.workspace.get_notebook_document(notebook_uri=uri)
        path = to_fs_path(uri)
        if notebook is None or path is None:
            return
        cells = notebook.cells
        texts = [self.workspace.get_text_document(c.document).source for c in cells]
        program = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code" if c.kind == types.NotebookCellKind.Code else "markdown",
                    "metadata": {},
                    "source": text,
                }
                for c, text in zip(cells, texts, strict=True)
            ],
        }
        found = self.check(path, json.dumps(program))
        for number, (cell, text) in enumerate(zip(cells, texts, strict=True), start=1):
            document = self.workspace.get_text_document(cell.document)
            lines = LineIndex(text)
            published = [_lsp_diagnostic(d, document, lines) for d in found if d.cell == number]
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(cell.document, published)
            )

    def refresh(self, paths: list[str]) -> None:
        """Files changed on disk: their projects are reopened, their open documents linted."""
        roots = {root_of(p) for p in paths}
        for root in roots:
            self.projects.pop(root, None)
        for uri in list(self.linted):
            path = self.workspace.get_text_document(uri).path
            if root_of(path) in roots:
                self.lint(uri)


SERVER = NnxLintServer()


@SERVER.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(server: NnxLintServer, params: types.DidOpenTextDocumentParams) -> None:
    server.lint(params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(server: NnxLintServer, params: types.DidChangeTextDocumentParams) -> None:
    server.later(params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(server: NnxLintServer, params: types.DidSaveTextDocumentParams) -> None:
    server.refresh([server.workspace.get_text_document(params.text_document.uri).path])


@SERVER.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(
    server: NnxLintServer, params: types.DidChangeWatchedFilesParams
) -> None:
    from pygls.uris import to_fs_path

    paths = [p for change in params.changes if (p := to_fs_path(change.uri))]
    server.refresh(paths)


@SERVER.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(server: NnxLintServer, params: types.DidOpenNotebookDocumentParams) -> None:
    server.lint_notebook(params.notebook_document.uri)


@SERVER.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
async def notebook_did_change(
    server: NnxLintServer, params: types.DidChangeNotebookDocumentParams
) -> None:
    server.later(params.notebook_document.uri, notebook=True)


@SERVER.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(server: NnxLintServer, params: types.DidSaveNotebookDocumentParams) -> None:
    server.lint_notebook(params.notebook_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(server: NnxLintServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    server.linted.pop(uri, None)
    if (task := server.pending.pop(uri, None)) is not None:
        task.cancel()
    server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))


@SERVER.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=False
    ),
)
def code_action(server: NnxLintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    linted = server.current(uri)
    if linted is None:
        return []
    document = server.workspace.get_text_document(uri)
    wanted = params.context.only
    actions: list[types.CodeAction] = []
    if wanted is None or any(types.CodeActionKind.QuickFix.startswith(k) for k in wanted):
        for d in linted.diagnostics:
            if _overlaps(_range(d, document, linted.lines), params.range):
                actions += _quick_fixes(d, document, linted)
    fixable = [d for d in linted.diagnostics if d.fixable(unsafe_fixes=False)]
    if fixable and (wanted is None or any(FIX_ALL.startswith(k) for k in wanted)):
        if (fix_all := _fix_all(server, document, linted)) is not None:
            actions.append(fix_all)
    return actions


@SERVER.feature(types.TEXT_DOCUMENT_HOVER)
def hover(server: NnxLintServer, params: types.HoverParams) -> types.Hover | None:
    linted = server.current(params.text_document.uri)
    if linted is None:
        return None
    document = server.workspace.get_text_document(params.text_document.uri)
    here = types.Range(params.position, params.position)
    for d in linted.diagnostics:
        rule = RULES_BY_CODE.get(d.code)
        where = _range(d, document, linted.lines)
        if rule is not None and _overlaps(where, here):
            text = f"**{rule.code}** ({rule.name}): {d.message}\n\n{rule.doc.strip()}"
            contents = types.MarkupContent(types.MarkupKind.Markdown, text)
            return types.Hover(contents, where)
    return None


# Positions and edits ---------------------------------------------------------------------------


def _position(document: TextDocument, lines: LineIndex, row: int, column: int) -> types.Position:
    """1-based (row, column) in characters, as nnx-lint counts them (lines end at \\n, \\r\\n
    or \\r only, as in LSP), in the client's units (UTF-16 code units unless agreed)."""
    row = min(row, len(lines.starts))
    before = lines.line(row)[: column - 1]
    return types.Position(row - 1, document.position_codec.client_num_units(before))


def _range(d: Diagnostic, document: TextDocument, lines: LineIndex) -> types.Range:
    """A finding's range in the client's units."""
    start = _position(document, lines, d.line, d.column)
    return types.Range(start, _position(document, lines, d.end_line, d.end_column))


def _edit(edit: Edit, document: TextDocument, lines: LineIndex) -> types.TextEdit:
    start = _position(document, lines, *lines.position(edit.start))
    return types.TextEdit(
        types.Range(start, _position(document, lines, *lines.position(edit.end))), edit.content
    )


def _whole(document: TextDocument, lines: LineIndex, new: str) -> types.TextEdit:
    """Replace the whole of the text with ``new``."""
    return _edit(Edit(0, len(lines.text), new), document, lines)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return p.line, p.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _lsp_diagnostic(d: Diagnostic, document: TextDocument, lines: LineIndex) -> types.Diagnostic:
    rule = RULES_BY_CODE.get(d.code)
    severity = types.DiagnosticSeverity.Error if rule is None else types.DiagnosticSeverity.Warning
    message = d.message if d.fix_unavailable is None else f"{d.message}; {d.fix_unavailable}"
    return types.Diagnostic(
        range=_range(d, document, lines),
        message=message,
        severity=severity,
        code=d.code,
        code_description=types.CodeDescription(rule.url) if rule is not None else None,
        source=SOURCE,
    )


def _changes(
    document: TextDocument, linted: _Linted, edits: list[types.TextEdit]
) -> types.WorkspaceEdit:
    """Edits of the text that was linted, for that version of the document only (a client
    refuses them once the document has changed)."""
    version = types.OptionalVersionedTextDocumentIdentifier(
        uri=document.uri, version=linted.version
    )
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(version, edits)])


def _quick_fixes(d: Diagnostic, document: TextDocument, linted: _Linted) -> list[types.CodeAction]:
    from nnx_lint.engine import add_noqa

    text, lines = linted.text, linted.lines
    actions = []
    diagnostic = [_lsp_diagnostic(d, document, lines)]
    if d.fix is not None:
        unsafe = d.fix.applicability is Applicability.UNSAFE
        edits = [_edit(e, document, lines) for e in d.fix.edits]
        actions.append(
            types.CodeAction(
                title=f"{d.fix.message} ({d.code}{', unsafe' if unsafe else ''})",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=diagnostic,
                is_preferred=not unsafe,
                edit=_changes(document, linted, edits),
            )
        )
    quiet, added = add_noqa(text, [d])
    if added:
        actions.append(
            types.CodeAction(
                title=f"Add `# noqa: {d.code}`",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=diagnostic,
                edit=_changes(document, linted, [_whole(document, lines, quiet)]),
            )
        )
    return actions


def _fix_all(
    server: NnxLintServer, document: TextDocument, linted: _Linted
) -> types.CodeAction | None:
    from nnx_lint.engine import fix_text

    path = document.path
    project = server.project(path)
    settings = replace(project.settings(path), unsafe_fixes=False)
    try:
        fixed = fix_text(linted.text, path, settings, project.index).source
    except InternalError as exc:  # a fix that would break the file: none offered
        server.window_log_message(
            types.LogMessageParams(types.MessageType.Error, f"{exc}; please report this bug")
        )
        return None
    return types.CodeAction(
        title="Fix all safe nnx-lint findings",
        kind=FIX_ALL,
        edit=_changes(document, linted, [_whole(document, linted.lines, fixed)]),
    )


def main() -> int:
    SERVER.start_io()
    return 0


if __name__ == "__main__":  # pragma: no cover - ``nnx-lint server`` is the way in
    raise SystemExit(main())
