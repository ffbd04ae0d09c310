"""Where libcst nodes are in the source, computed one top-level statement at a time.

libcst's PositionProvider generates the code of the whole module with position tracking,
which costs about twice the parse. A finding only needs the positions of nodes in a few
statements: the standard library's parser (fast) gives the line each top-level statement
starts on, and PositionProvider runs on a module made of that one statement."""

from __future__ import annotations

import ast
from collections.abc import Mapping

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider


class Positions:
    def __init__(self, module: cst.Module, source: str, statement_of: dict[int, int]) -> None:
        self.module = module
        self.source = source
        self.statement_of = statement_of
        self._first_lines: list[int] | None = None
        # statement -> (line offset, positions)
        self._known: dict[int, tuple[int, Mapping[cst.CSTNode, CodeRange]]] = {}
        self._whole: Mapping[cst.CSTNode, CodeRange] | None = None

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        index = self.statement_of.get(id(node))
        starts = self._statement_lines() if index is not None else None
        if index is None or starts is None:  # starts is None whenever index is
            return self._whole_module()[node]
        if index not in self._known:
            stmt = self.module.body[index]
            alone = self.module.with_changes(header=[], body=[stmt], footer=[])
            positions = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
            self._known[index] = (starts[index] - 1, positions)
        shift, positions = self._known[index]
        rng = positions[node]
        return CodeRange(
            (rng.start.line + shift, rng.start.column), (rng.end.line + shift, rng.end.column)
        )

    def _whole_module(self) -> Mapping[cst.CSTNode, CodeRange]:
        if self._whole is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._whole = wrapper.resolve(PositionProvider)
        return self._whole

    def _statement_lines(self) -> list[int] | None:
        """The line each top-level statement's code (its leading lines included) starts on;
        None where the standard parser disagrees with libcst."""
        if self._first_lines is None:
            self._first_lines = _first_lines(self.module, self.source) or []
        return self._first_lines or None


def _first_lines(module: cst.Module, source: str) -> list[int] | None:
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = []
    j = 0
    for stmt in module.body:
        if j >= len(body):
            return None
        node = body[j]
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        lines.append(first - len(stmt.leading_lines))
        j += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
    return lines if j == len(body) else None
