"""The rule registry. One rule, one file: detection, fix and documentation together."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnx_lint.analysis.context import FileContext
    from nnx_lint.diagnostics import Diagnostic


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    doc: str  # Markdown: What it does / Why is this bad / Example / Use instead / Fix safety
    check: Callable[[FileContext], Iterable[Diagnostic]]

    @property
    def url(self) -> str:
        # The anchor of the rule's section in README.md ("## name (CODE)").
        return f"https://github.com/nnx-lint/nnx-lint#{self.name}-{self.code.lower()}"


def _load() -> tuple[Rule, ...]:
    from nnx_lint.rules import nnx001, nnx002, nnx003

    return (nnx001.RULE, nnx002.RULE, nnx003.RULE)


RULES: tuple[Rule, ...] = _load()
RULES_BY_CODE = {r.code: r for r in RULES}
