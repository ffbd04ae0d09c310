"""A recorded run with a few changed files (``runs.replay``): would the full run print what was
recorded? It would if each changed file's index facts are the same as the record's (the
project index's fingerprint, which every cached result is keyed by, is then the same, so every
other file's result stands) and no changed linted file can have a finding, as the prefilter
tells from its new text and what the record kept of the project (``runs.Prefiltered``): the
very test ``Project.check`` makes before it would import the engine.

This is the path of the same command run again after a file was edited (an editor's save, a
watch loop): it reads and scans only the changed files, and imports neither the engine (libcst;
save for a file only the fallback grammar of ``scan_source`` reads) nor the command's
configuration and discovery.
"""

from __future__ import annotations

import re
from importlib import import_module

from nnx_lint.analysis.project_index import (
    any_text_check,
    could_have_findings,
    index_facts,
    names_nnx,
)
from nnx_lint.runs import Prefiltered, Quiet
from nnx_lint.sources import MAX_FILE_SIZE, SourceError, decode_source

TYPE_CHECKING = False  # as typing's: a replayed run does not import typing (``runs``)
if TYPE_CHECKING:
    from collections.abc import Callable

    from nnx_lint.analysis.project_index import FileFacts


class _Recorded:
    """The prefilter's questions to the index, answered from the record and from the facts
    read from the file's new text."""

    def __init__(self, known: Prefiltered, facts: FileFacts) -> None:
        self.known = known
        self.facts = facts
        self.pattern = None if known.module_classes is None else re.compile(known.module_classes)

    def called_from_elsewhere(self, key: str) -> bool:
        return self.known.called_elsewhere

    def mentions_module_class(self, source: str) -> bool:
        return self.pattern is not None and self.pattern.search(source) is not None

    def names_nnx(self, key: str, source: str) -> bool | None:
        return names_nnx(self.facts, source, self.known.nnx_names)


def unchanged(entries: dict[str, Quiet]) -> bool:
    """Do the changed files (by absolute path) leave the recorded run's output as it was?"""
    for path, entry in entries.items():
        try:
            with open(path, "rb") as f:
                text, _ = decode_source(f.read())
        except (OSError, SourceError):
            return False
        facts = index_facts(text, entry.module, entry.is_package, MAX_FILE_SIZE)
        if facts is None or facts.identity != entry.identity:
            return False
        if entry.linted is not None:
            check = any_text_check(_resolve(*named) for named in entry.linted.prefilters)
            if could_have_findings(text, _Recorded(entry.linted, facts), path, check):
                return False
    return True


def _resolve(module: str, name: str) -> Callable[[str], bool]:
    """A rule's text check, by its module and its (dotted) name there."""
    found: object = import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found  # type: ignore[return-value]
