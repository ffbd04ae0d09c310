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
Hover over a finding shows its rule's documentation. Notebooks and documents are not served
(the command lints them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import ServerTextPosition, TextDocument

from nnx_lint import __version__
from nnx_lint.diagnostics import Applicability, Diagnostic, Edit, InternalError
from nnx_lint.files import SOURCE_SUFFIXES
from nnx_lint.project import Project, root_of
from nnx_lint.rules import RULES_BY_CODE

DEBOUNCE = 0.25  # seconds without a change before a changed document is linted
SOURCE = "nnx-lint"
FIX_ALL = types.CodeActionKind.SourceFixAll + ".nnx-lint"


@dataclass(frozen=True)
class _Linted:
    """A document's findings, and the version and text they were found in."""

    version: int | None
    text: str
    diagnostics: list[Diagnostic]


class NnxLintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(SOURCE, __version__)
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
        try:
            found = self.project(path).check(path, text)
        except InternalError as exc:
            self.window_log_message(
                types.LogMessageParams(types.MessageType.Error, f"{exc}; please report this bug")
            )
            found = []
        linted = self.linted[uri] = _Linted(document.version, text, found)
        self.window_log_message(
            types.LogMessageParams(
                types.MessageType.Log,
                f"linted {path} (version {document.version}): {len(found)} finding(s)",
            )
        )
        published = [_lsp_diagnostic(d, document, text) for d in found]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri, published, document.version)
        )
        return linted

    def current(self, uri: str) -> _Linted | None:
        """The document's findings for its present text (linted again if it changed)."""
        linted = self.linted.get(uri)
        document = self.workspace.get_text_document(uri)
        if linted is None or linted.text != document.source:
            return self.lint(uri)
        return linted

    def later(self, uri: str) -> None:
        """Lint ``uri`` once DEBOUNCE seconds pass without another change."""
        if (task := self.pending.pop(uri, None)) is not None:
            task.cancel()

        async def run() -> None:
            await asyncio.sleep(DEBOUNCE)
            self.pending.pop(uri, None)
            self.lint(uri)

        self.pending[uri] = asyncio.get_running_loop().create_task(run())

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
            if _overlaps(_range(d, document, linted.text), params.range):
                actions += _quick_fixes(d, document, linted.text)
    fixable = [d for d in linted.diagnostics if d.fixable(unsafe_fixes=False)]
    if fixable and (wanted is None or any(FIX_ALL.startswith(k) for k in wanted)):
        actions.append(_fix_all(server, document, linted.text))
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
        where = _range(d, document, linted.text)
        if rule is not None and _overlaps(where, here):
            text = f"**{rule.code}** ({rule.name}): {d.message}\n\n{rule.doc.strip()}"
            contents = types.MarkupContent(types.MarkupKind.Markdown, text)
            return types.Hover(contents, where)
    return None


# Positions and edits ---------------------------------------------------------------------------


def _as_of(document: TextDocument, text: str) -> TextDocument:
    """A document holding ``text`` with ``document``'s position encoding (the client's)."""
    return TextDocument(document.uri, text, position_codec=document.position_codec)


def _range(d: Diagnostic, document: TextDocument, text: str) -> types.Range:
    """A finding's range in the client's units (nnx-lint counts characters from 1)."""
    at = _as_of(document, text)
    start = ServerTextPosition(d.line - 1, d.column - 1)
    end = ServerTextPosition(d.end_line - 1, d.end_column - 1)
    return types.Range(at.position_to_client_units(start), at.position_to_client_units(end))


def _edit(edit: Edit, document: TextDocument, text: str) -> types.TextEdit:
    at = _as_of(document, text)
    start, end = at.client_position_at_offset(edit.start), at.client_position_at_offset(edit.end)
    return types.TextEdit(types.Range(start, end), edit.content)


def _whole(document: TextDocument, text: str, new: str) -> types.TextEdit:
    """Replace the whole of ``text`` with ``new``."""
    return _edit(Edit(0, len(text), new), document, text)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return p.line, p.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _lsp_diagnostic(d: Diagnostic, document: TextDocument, text: str) -> types.Diagnostic:
    rule = RULES_BY_CODE.get(d.code)
    severity = types.DiagnosticSeverity.Error if rule is None else types.DiagnosticSeverity.Warning
    message = d.message if d.fix_unavailable is None else f"{d.message}; {d.fix_unavailable}"
    return types.Diagnostic(
        range=_range(d, document, text),
        message=message,
        severity=severity,
        code=d.code,
        code_description=types.CodeDescription(rule.url) if rule is not None else None,
        source=SOURCE,
    )


def _quick_fixes(d: Diagnostic, document: TextDocument, text: str) -> list[types.CodeAction]:
    from nnx_lint.engine import add_noqa

    actions = []
    diagnostic = [_lsp_diagnostic(d, document, text)]
    if d.fix is not None:
        unsafe = d.fix.applicability is Applicability.UNSAFE
        edits = [_edit(e, document, text) for e in d.fix.edits]
        actions.append(
            types.CodeAction(
                title=f"{d.fix.message} ({d.code}{', unsafe' if unsafe else ''})",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=diagnostic,
                is_preferred=not unsafe,
                edit=types.WorkspaceEdit(changes={document.uri: edits}),
            )
        )
    quiet, added = add_noqa(text, [d])
    if added:
        actions.append(
            types.CodeAction(
                title=f"Add `# noqa: {d.code}`",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=diagnostic,
                edit=types.WorkspaceEdit(changes={document.uri: [_whole(document, text, quiet)]}),
            )
        )
    return actions


def _fix_all(server: NnxLintServer, document: TextDocument, text: str) -> types.CodeAction:
    from nnx_lint.engine import fix_text

    path = document.path
    project = server.project(path)
    settings = replace(project.settings(path), unsafe_fixes=False)
    fixed = fix_text(text, path, settings, project.index).source
    return types.CodeAction(
        title="Fix all safe nnx-lint findings",
        kind=FIX_ALL,
        edit=types.WorkspaceEdit(changes={document.uri: [_whole(document, text, fixed)]}),
    )


def main() -> int:
    SERVER.start_io()
    return 0


if __name__ == "__main__":  # pragma: no cover - ``nnx-lint server`` is the way in
    raise SystemExit(main())
