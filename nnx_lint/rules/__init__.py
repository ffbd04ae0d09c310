"""The rule registry. One rule, one file: its detection, messages, metadata and documentation
(whose Example and Use instead blocks the tests run). The registry and every rule's metadata
import without libcst; a rule's detection imports the analysis when a file is checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nnx_lint.analysis.nnx_api import mentions_transform

TYPE_CHECKING = False  # as typing's: a replayed run does not import typing (``runs``)
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
    # also needs a mention of flax/nnx or of a project Module class: ``could_have_findings``).
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
    checks = tuple(dict.fromkeys(rule.prefilter for rule in rules))
    return lambda source: any(check(source) for check in checks)


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


def rule(code: str) -> Rule:
    """The rule of ``code`` (one of ``RULE_MODULES``), importing its module alone: a run with
    one file changed (``incremental``) asks a few rules' prefilters, not every rule's."""
    from importlib import import_module

    found: Rule = import_module(f"nnx_lint.rules.{code.lower()}").RULE
    return found


# Every rule, and by code: imported when first asked for (``__getattr__``).
RULES: tuple[Rule, ...]
RULES_BY_CODE: dict[str, Rule]


def __getattr__(name: str) -> object:
    if name in ("RULES", "RULES_BY_CODE"):
        every = tuple(rule(module) for module in RULE_MODULES)
        globals().update(RULES=every, RULES_BY_CODE={r.code: r for r in every})
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
