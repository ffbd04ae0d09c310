"""The rule registry. One rule, one file: its detection, messages, metadata and documentation
(whose Example and Use instead blocks the tests run). The registry and every rule's metadata
import without libcst; a rule's detection imports the analysis when a file is checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nnx_lint.analysis.nnx_api import mentions_transform
from nnx_lint.analysis.project_index import any_text_check

if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.project_index import Verdict
    from nnx_lint.diagnostics import Diagnostic, Fix, Related


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    doc: str  # Markdown: What it does / Why is this bad / Example / Use instead / Fix safety
    check: Callable[[FileContext], Iterable[Diagnostic]]
    # A cheap text check: False when the rule cannot have a finding in the file (every rule
    # also needs something NNX named: ``could_have_findings``).
    prefilter: Callable[[str], bool] = mentions_transform

    @property
    def url(self) -> str:
        # The anchor of the rule's section in README.md ("## name (CODE)").
        return f"https://github.com/nnx-lint/nnx-lint#{self.name}-{self.code.lower()}"


def report(
    ctx: FileContext,
    code: str,
    node: cst.CSTNode,
    message: str,
    fix: Fix | None,
    fix_unavailable: str | None = None,
    related: tuple[Related, ...] = (),
    summary: str = "",
) -> Diagnostic:
    """A finding at ``node``: the message (and its ``summary`` for one line, without the
    evidence), and the fix or what to do without one."""
    from nnx_lint.diagnostics import Diagnostic

    line, column, end_line, end_column = ctx.position(node)
    return Diagnostic(
        code,
        message,
        ctx.path,
        line,
        column,
        end_line,
        end_column,
        fix,
        fix_unavailable,
        related,
        summary=summary,
    )


def evidence(verdict: Verdict) -> tuple[Related, ...]:
    """The place a verdict's evidence ends at (the first state change), as a related location."""
    from nnx_lint.analysis.nnx_api import Effect
    from nnx_lint.diagnostics import Related

    if verdict.location is None or verdict.effect is not Effect.CHANGES:
        return ()
    path, line = verdict.location
    return (Related(path, line, f"the state changes here: {verdict.reasons[-1]}"),)


def text_check(rules: Iterable[Rule]) -> Callable[[str], bool]:
    """The prefilter of ``rules`` together: can any of them find something in the text?"""
    return any_text_check(rule.prefilter for rule in rules)


# One module per rule, in code order: each defines RULE.
RULE_MODULES = (
    "nnx001",
    "nnx002",
    "nnx003",
    "nnx004",
    "nnx005",
    "nnx101",
    "nnx102",
    "nnx103",
    "nnx104",
    "nnx105",
    "nnx106",
)


def _load() -> tuple[Rule, ...]:
    from importlib import import_module

    return tuple(import_module(f"nnx_lint.rules.{name}").RULE for name in RULE_MODULES)


RULES: tuple[Rule, ...] = _load()
RULES_BY_CODE = {r.code: r for r in RULES}
