"""``nnx-lint server`` end to end: a real client (pytest-lsp) talks to the server over stdio."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import helpers
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_cache_and_jobs import MODULE, TRAIN

from nnx_lint.rules import RULES_BY_CODE

JIT_MODEL = "import jax\nfrom flax import nnx\n\nmodel = nnx.Linear(2, 3, rngs=nnx.Rngs(0))\n"
JIT_MODEL += "fast = jax.jit(model)\n"
FIXED_LINE = "fast = functools.partial(jax.jit(type(model).__call__), model)"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "nnx_lint", "server"], server_env=helpers.env()
    )
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=pytest_lsp.client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


async def open_file(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    text = path.read_text() if text is None else text
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


async def one_finding(
    client: LanguageClient, tmp_path: Path, text: str = JIT_MODEL
) -> tuple[str, types.Diagnostic]:
    """A project with ``m.py`` holding ``text``, opened: its uri and its one finding."""
    helpers.write(tmp_path / "pyproject.toml", "")
    uri = await open_file(client, helpers.write(tmp_path / "m.py", text), text)
    [found] = client.diagnostics[uri]
    return uri, found


async def actions_for(
    client: LanguageClient, uri: str, found: types.Diagnostic
) -> list[types.CodeAction]:
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri), found.range, types.CodeActionContext([found])
        )
    )


def edits_of(action: types.CodeAction) -> list[types.TextEdit]:
    """The edits of an action, which are for the version of the document that was linted."""
    [change] = action.edit.document_changes
    assert change.text_document.version is not None
    return change.edits


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """The text after ``edits`` (positions in UTF-16 units; the texts here are ASCII)."""
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n|$)", text)[:-1] or [text]  # LSP's line ends
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(p: types.Position) -> int:
        return starts[p.line] + p.character if p.line < len(lines) else len(text)

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


@pytest.mark.asyncio
async def test_diagnostics_on_open_match_the_command(client: LanguageClient, tmp_path: Path):
    uri, found = await one_finding(client, tmp_path)
    command = helpers.nnx_lint(tmp_path, "--output-format", "json", "m.py").stdout
    import json

    [expected] = json.loads(command)
    assert found.code == expected["code"] == "NNX001"
    assert found.message.startswith(expected["message"])
    assert (found.range.start.line + 1, found.range.start.character + 1) == (
        expected["location"]["row"],
        expected["location"]["column"],
    )
    assert found.source == "nnx-lint"


@pytest.mark.asyncio
async def test_a_change_is_linted_after_a_pause(client: LanguageClient, tmp_path: Path):
    uri, _ = await one_finding(client, tmp_path)
    clean = JIT_MODEL.replace("fast = jax.jit(model)", "fast = model")
    for version, text in enumerate([JIT_MODEL + "# typing\n", clean], start=2):
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []
    await asyncio.sleep(0.5)  # time for a second run, if the first change had one
    runs = [m.message for m in client.log_messages if m.message.startswith("linted ")]
    assert [r.split("(")[1].split(")")[0] for r in runs] == ["version 1", "version 3"]


@pytest.mark.asyncio
async def test_code_actions_fix_and_add_noqa(client: LanguageClient, tmp_path: Path):
    uri, found = await one_finding(client, tmp_path)
    actions = await actions_for(client, uri, found)
    by_kind = {}
    for action in actions:
        by_kind.setdefault(action.kind, []).append(action)
    fix, noqa = by_kind[types.CodeActionKind.QuickFix]
    assert "NNX001" in fix.title and fix.is_preferred
    assert FIXED_LINE in apply(JIT_MODEL, edits_of(fix))
    assert "fast = jax.jit(model)  # noqa: NNX001" in apply(JIT_MODEL, edits_of(noqa))
    [fix_all] = by_kind["source.fixAll.nnx-lint"]
    fixed = apply(JIT_MODEL, edits_of(fix_all))
    assert (
        fixed
        == helpers.nnx_lint(
            tmp_path, "--fix", "-", "--stdin-filename", "m.py", stdin=JIT_MODEL
        ).stdout
    )


@pytest.mark.asyncio
async def test_hover_shows_the_rule(client: LanguageClient, tmp_path: Path):
    uri, found = await one_finding(client, tmp_path)
    shown = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), found.range.start)
    )
    assert RULES_BY_CODE["NNX001"].doc.strip() in shown.contents.value
    elsewhere = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 0))
    )
    assert elsewhere is None


@pytest.mark.asyncio
async def test_a_saved_file_of_the_project_updates_the_index(
    client: LanguageClient, tmp_path: Path
):
    """train.py jits a Ranker defined in models.py: when models.py is saved with a Ranker that
    changes its state, train.py's message says so (the index is current)."""
    helpers.write(tmp_path / "pyproject.toml", "")
    models = helpers.write(tmp_path / "models.py", MODULE)
    train = helpers.write(tmp_path / "train.py", TRAIN)
    uri = await open_file(client, train)
    [before] = client.diagnostics[uri]
    assert helpers.claim(before.message) == "NONE"  # Ranker's call cannot be told
    changing = MODULE + "\n    def __call__(self, x):\n        self.count = x\n        return x\n"
    models.write_text(changing)
    models_uri = await open_file(client, models, changing)
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(models_uri))
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    [after] = client.diagnostics[uri]
    assert helpers.claim(after.message) == "RAISES"


@pytest.mark.asyncio
async def test_lines_are_counted_as_python_and_lsp_count_them(
    client: LanguageClient, tmp_path: Path
):
    """A form feed ends no line (str.splitlines says it does): ranges and edits stay right."""
    text = JIT_MODEL.replace("from flax import nnx\n", "from flax import nnx\n\x0c\n")
    uri, found = await one_finding(client, tmp_path, text)
    assert (found.range.start.line, found.range.start.character) == (5, 7)
    actions = await actions_for(client, uri, found)
    fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix)
    assert FIXED_LINE in apply(text, edits_of(fix)).split("\n")


@pytest.mark.asyncio
async def test_a_configuration_error_is_shown_and_no_stale_finding_stays(
    client: LanguageClient, tmp_path: Path
):
    uri, _ = await one_finding(client, tmp_path)
    config = helpers.write(tmp_path / "pyproject.toml", "[tool.nnx-lint]\nbogus = 1\n")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            [types.FileEvent(config.as_uri(), types.FileChangeType.Changed)]
        )
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []
    assert any("bogus" in m.message for m in client.messages)


@pytest.mark.asyncio
async def test_a_notebook_gets_each_finding_on_its_cell(client: LanguageClient, tmp_path: Path):
    """A notebook document is linted as its .ipynb file: the code cells as one program (the
    last cell uses the first's imports), each finding on the cell it stands in."""
    helpers.write(tmp_path / "pyproject.toml", "")
    uri = (tmp_path / "n.ipynb").as_uri()
    cells = [
        (types.NotebookCellKind.Code, "import jax\nfrom flax import nnx\n"),
        (types.NotebookCellKind.Markup, "# Notes\n"),
        (types.NotebookCellKind.Code, "model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))\n"),
        (types.NotebookCellKind.Code, "fast = jax.jit(model)\n"),
    ]
    cell_uris = [f"vscode-notebook-cell:{tmp_path / 'n.ipynb'}#cell{i}" for i in range(4)]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=uri,
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(kind, cell)
                    for (kind, _), cell in zip(cells, cell_uris, strict=True)
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(cell, "python", 1, text)
                for (_, text), cell in zip(cells, cell_uris, strict=True)
            ],
        )
    )
    for _ in range(100):  # one publication per cell, in a burst
        if all(cell in client.diagnostics for cell in cell_uris):
            break
        await asyncio.sleep(0.05)
    assert [len(client.diagnostics[cell]) for cell in cell_uris] == [0, 0, 0, 1]
    [found] = client.diagnostics[cell_uris[3]]
    assert found.code == "NNX001"
    assert (found.range.start.line, found.range.start.character) == (0, 7)
