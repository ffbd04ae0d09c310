"""NNX105: ``nnx.VariableState``, removed in flax 0.11 (an alias of ``nnx.Variable`` since)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.context import FileContext
    from nnx_lint.analysis.renames import Rename, Use
    from nnx_lint.diagnostics import Diagnostic, Fix

CODE = "NNX105"
NAME = "variable-state"
SUMMARY = "`nnx.VariableState`, removed in flax 0.11 (an alias of `nnx.Variable`)"

DOC = """\
## variable-state (NNX105)

### What it does
An upgrade rule for flax 0.11 and later (selected with `--select NNX1`, when the target flax
version is 0.11.0 or later). It checks for every use of `nnx.VariableState`, however the file
spells it: `nnx.VariableState`, `flax.nnx.VariableState`, `nnx.variablelib.VariableState`,
`from flax.nnx import VariableState` (the import and each use of the name), aliases. The name
is resolved through the imports: a class of the project named `VariableState` is not reported.

### Why is this bad?
flax 0.11.0 removed the `VariableState` class: `nnx.state(...)` holds the Variables
themselves (`nnx.Param`, ...), and `nnx.VariableState` became another name of `nnx.Variable`.
From flax 0.12.1 on, every `nnx.VariableState` (and `from flax.nnx import VariableState`)
warns `DeprecationWarning: 'VariableState' was removed, this is just an alias to 'Variable'.
Plase use 'Variable' directly instead.` (measured on flax 0.12.8 and 0.12.12;
`flax.nnx.variablelib.VariableState` is a silent alias). Some uses mean something else than
on flax 0.10 (measured on 0.10.5 and 0.11.0+):

- `VariableState(nnx.Param, value)` raises `TypeError: Variable.__init__() takes 2 positional
  arguments but 3 were given`: write `nnx.Param(value)`;
- `type(x) is nnx.VariableState` is False for a state leaf (its type is `nnx.Param`, ...),
  where it was True: write `isinstance(x, nnx.Variable)`;
- a subclass of `VariableState` is a Variable, with Variable's constructor;
- `isinstance(x, nnx.VariableState)` is True for a state leaf, as before, and now also for a
  live Variable (`model.kernel`), where it was False.

### Example
```python
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
shapes = jax.tree.map(
    lambda v: v.get_value().shape,
    nnx.state(model),
    is_leaf=lambda x: isinstance(x, nnx.VariableState),
)
```

### Use instead
```python
import jax
from flax import nnx

model = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
shapes = jax.tree.map(
    lambda v: v.get_value().shape,
    nnx.state(model),
    is_leaf=lambda x: isinstance(x, nnx.Variable),
)
```

### Fix safety
On flax 0.11 and later `nnx.VariableState` is `nnx.Variable` (the same object), so the
rename changes nothing there but the warning. The fix is safe where the use means on the
target flax what it meant on flax 0.10: in an annotation, and as the class of an
`isinstance`/`issubclass` check (alone, in a tuple or a `|` union) or a `case` class
pattern (a state leaf is a `Variable` now as it was a `VariableState`; the `is_leaf=` of
`jax.tree.map` over a state gets the same leaves). For any other use (passed as a value, a
filter, a generic's parameter) it is unsafe (`--unsafe-fixes`): the rename is right on the
target flax, but nnx-lint cannot tell whether the code still means what it did. A
construction, a `type(x) is ...`/`==` comparison and a base class get no fix: the meaning
changed with flax 0.11, and renaming would hide it (write what the list above says). Nor does
any other `is`/`==` comparison (`cls is nnx.VariableState`): it changed where `cls` is the
type of a state leaf, which nnx-lint cannot tell, and the message says so without claiming
the result. An
import `from flax.nnx import VariableState` is renamed with every use of the name, if each
has a fix (`as` aliases keep their name), and not where other modules import the name from
this one. A string annotation (`"nnx.VariableState"`) is not reported.
"""

MESSAGE = (
    "{text} is `nnx.Variable` on flax 0.11+ (the `VariableState` class was removed in "
    "0.11.0){changed}{warns}"
)
WARNS = (
    "; from flax 0.12.1 on it warns DeprecationWarning: 'VariableState' was removed, this is "
    "just an alias to 'Variable'. Plase use 'Variable' directly instead."
)
SILENT = " (a silent alias in `flax.nnx.variablelib`)"


class Context(enum.Enum):
    """Where a use stands, which decides whether it means what it meant on flax 0.10."""

    CALL = "call"  # `VariableState(...)`
    TYPE_COMPARISON = "type comparison"  # `type(x) is VariableState`, `==`, `is not`, `!=`
    COMPARISON = "comparison"  # `is`/`==` with anything else (`cls is VariableState`)
    BASE = "base"  # `class C(VariableState)`
    PATTERN = "pattern"  # `case VariableState(...)`
    ISINSTANCE = "isinstance"  # the class of isinstance/issubclass
    ANNOTATION = "annotation"
    OTHER = "other"


CHANGED = {
    Context.CALL: (
        "; a construction `VariableState(type, value)` now raises TypeError: "
        "Variable.__init__() takes 2 positional arguments but 3 were given"
    ),
    # {now}/{then}: False/True for `is`/`==`, True/False for `is not`/`!=`
    Context.TYPE_COMPARISON: (
        "; `type(x)` of a state leaf is its Variable class now (`nnx.Param`, ...), so this "
        "comparison is {now} for a state leaf where flax 0.10 gave {then}"
    ),
    Context.COMPARISON: (
        "; where this compares the type of a state leaf (`type(x)`), it is {now} now where "
        "flax 0.10 gave {then}: a state leaf's type is its Variable class (`nnx.Param`, ...)"
    ),
    Context.BASE: "; a subclass of it is a Variable now, with Variable's constructor",
}
HELP = {
    Context.CALL: "construct the Variable type itself: `nnx.Param(value)` (no automatic fix)",
    Context.TYPE_COMPARISON: "write `isinstance(x, nnx.Variable)` (no automatic fix)",
    Context.COMPARISON: (
        "to test a state leaf, write `isinstance(x, nnx.Variable)`; else `nnx.Variable` (no "
        "automatic fix)"
    ),
    Context.BASE: "derive from `nnx.Variable` and review the constructor (no automatic fix)",
}
SHORT = "{text}: `nnx.VariableState` was removed in flax 0.11 (use `nnx.Variable`)"
TITLE = "Use `Variable`, which `VariableState` is on flax 0.11+"
UNSAFE_TITLE = (
    "Use `Variable`, which `VariableState` is on flax 0.11+ (unsafe: the code may have "
    "meant a flax 0.10 state leaf only)"
)
OLD = frozenset({"flax.nnx.VariableState"})
# The modules whose VariableState was flax's, which export Variable on flax 0.11+.
MODULES = frozenset({"flax.nnx", "flax.nnx.variablelib"})


class Kind(enum.Enum):
    SAFE = "safe"  # an annotation, isinstance/issubclass, a class pattern
    OTHER = "other"  # unsafe fix
    CHANGED = "changed"  # no fix


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis import renames
    from nnx_lint.analysis.versions import VARIABLE_STATE_REMOVED, target_flax

    if target_flax(ctx.settings.target_flax_version) < VARIABLE_STATE_REMOVED:
        return
    found = list(renames.uses(ctx, OLD))
    imports = list(renames.imported(ctx, OLD))
    by_binding: dict[int, Rename] = {}
    kinds: dict[int, Kind] = {}
    for imp in imports:
        reads = [u for u in found if u.binding is imp.binding]
        worst = _worst([_kind(ctx, u)[0] for u in reads])
        kinds[id(imp.binding)] = worst
        if worst is Kind.CHANGED:
            by_binding[id(imp.binding)] = renames.Rename((), "a use of it has no fix")
        else:
            by_binding[id(imp.binding)] = renames.rename_import(
                ctx, imp, "Variable", MODULES, reads
            )
    for imp in imports:
        rename = by_binding[id(imp.binding)]
        kind = kinds[id(imp.binding)]
        text = ctx.code(imp.alias).rstrip(", ")
        statement = f"`from {imp.module} import {text}`"
        message = MESSAGE.format(text=statement, changed="", warns=_warning(imp.module))
        short = SHORT.format(text=f"`{text}`")
        fix = _fix(rename, kind)
        why = None if fix else f"import `Variable` instead (no automatic fix: {rename.why_not})"
        yield report(ctx, CODE, imp.alias, message, fix, why, summary=short)
    for use in found:
        kind, context = _kind(ctx, use)
        text = renames.spelled(ctx, use)
        changed = CHANGED.get(context, "")
        if context in (Context.TYPE_COMPARISON, Context.COMPARISON):
            negated = _comparison(ctx, use.node)[1]
            changed = changed.format(now=negated, then=not negated)
        message = MESSAGE.format(text=text, changed=changed, warns=_warning(_module(use)))
        short = SHORT.format(text=text)
        if kind is Kind.CHANGED:
            yield report(ctx, CODE, use.node, message, None, HELP[context], summary=short)
            continue
        if use.binding is not None:
            found_rename = by_binding.get(id(use.binding))
            if found_rename is None:  # not bound by `from ... import VariableState`
                yield report(
                    ctx, CODE, use.node, message, None, "write `nnx.Variable`", summary=short
                )
                continue
            rename = found_rename
            fix = _fix(rename, kinds[id(use.binding)])
            why = None if fix else f"write `Variable` (no automatic fix: {rename.why_not})"
            yield report(ctx, CODE, use.node, message, fix, why, summary=short)
            continue
        edit = renames.attribute_edit(ctx, use, "Variable", MODULES)
        fix = _fix(renames.Rename((edit,)), kind) if edit else None
        why = None if fix else f"write `nnx.Variable` (no automatic fix: read from `{use.prefix}`)"
        yield report(ctx, CODE, use.node, message, fix, why, summary=short)


def _warns(module: str | None) -> bool:
    """Does reading ``VariableState`` from ``module`` (as the file spells it) warn? Only
    ``flax.nnx`` itself warns (its module ``__getattr__``, flax 0.12.1+)."""
    return module == "flax.nnx"


def _warning(module: str | None) -> str:
    """What a message says of the warning for a ``VariableState`` read from ``module``:
    it warns, it is a silent alias, or nothing where the module is not known."""
    if _warns(module):
        return WARNS
    return SILENT if module == "flax.nnx.variablelib" else ""


def _module(use: Use) -> str | None:
    """The module a use reads ``VariableState`` from, as the file spells it (``flax.nnx``,
    ``flax.nnx.variablelib``)."""
    from nnx_lint.analysis import renames

    if use.binding is not None:  # `from <module> import VariableState`
        raw = renames.raw_import(use.binding)
        return raw.rpartition(".")[0] if raw is not None else None
    return use.prefix


def _fix(rename: Rename, kind: Kind) -> Fix | None:
    from nnx_lint.diagnostics import Applicability, Fix

    if not rename.edits or kind is Kind.CHANGED:
        return None
    if kind is Kind.SAFE:
        return Fix(Applicability.SAFE, TITLE, rename.edits)
    return Fix(Applicability.UNSAFE, UNSAFE_TITLE, rename.edits)


def _worst(kinds: list[Kind]) -> Kind:
    if Kind.CHANGED in kinds:
        return Kind.CHANGED
    return Kind.OTHER if Kind.OTHER in kinds else Kind.SAFE


def _kind(ctx: FileContext, use: Use) -> tuple[Kind, Context]:
    """What the use does with the class, and whether its meaning is the one of flax 0.10."""
    import libcst as cst

    node: cst.CSTNode = use.node
    parent = ctx.parent(node)
    if isinstance(parent, cst.Call) and parent.func is node:
        return Kind.CHANGED, Context.CALL
    if isinstance(parent, cst.MatchClass) and parent.cls is node:
        return Kind.SAFE, Context.PATTERN
    with_type, _ = _comparison(ctx, node)
    if with_type is not None:
        return Kind.CHANGED, Context.TYPE_COMPARISON if with_type else Context.COMPARISON
    if isinstance(parent, cst.Arg):
        holder = ctx.parent(parent)
        if isinstance(holder, cst.ClassDef) and parent in holder.bases:
            return Kind.CHANGED, Context.BASE
        if _class_argument(ctx, parent, holder):
            return Kind.SAFE, Context.ISINSTANCE
    arg = ctx.parent(_classes(ctx, node))  # `(A, B)`, `A | B`: several classes
    if isinstance(arg, cst.Arg) and _class_argument(ctx, arg, ctx.parent(arg)):
        return Kind.SAFE, Context.ISINSTANCE
    while parent is not None and not isinstance(parent, cst.BaseStatement):
        if isinstance(parent, cst.Annotation):
            return Kind.SAFE, Context.ANNOTATION
        parent = ctx.parent(parent)
    return Kind.OTHER, Context.OTHER


def _comparison(ctx: FileContext, node: cst.CSTNode) -> tuple[bool | None, bool]:
    """Is ``node`` compared by ``is``/``is not``/``==``/``!=`` (in a comparison, possibly
    chained) with ``type(...)`` (True) or with something else only (False), and is that
    comparison negated (``is not``, ``!=``)? (None, False): in no such comparison."""
    import libcst as cst

    parent = ctx.parent(node)
    comparison = ctx.parent(parent) if isinstance(parent, cst.ComparisonTarget) else parent
    if not isinstance(comparison, cst.Comparison):
        return None, False
    operands = [comparison.left, *(t.comparator for t in comparison.comparisons)]
    pairs: list[tuple[bool, bool]] = []  # (with type(...), negated)
    for i, target in enumerate(comparison.comparisons):
        if not isinstance(target.operator, cst.Is | cst.IsNot | cst.Equal | cst.NotEqual):
            continue
        left, right = operands[i], operands[i + 1]
        if node is left or node is right:
            other = right if node is left else left
            negated = isinstance(target.operator, cst.IsNot | cst.NotEqual)
            pairs.append((_is_type_call(ctx, other), negated))
    if not pairs:
        return None, False
    return max(pairs)  # a comparison with type(...) first


def _is_type_call(ctx: FileContext, expr: cst.BaseExpression) -> bool:
    """Is ``expr`` ``type(x)``, the builtin ``type`` with one argument?"""
    import libcst as cst

    from nnx_lint.analysis.context import is_builtin

    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name | cst.Attribute)
        and (expr.func.value if isinstance(expr.func, cst.Name) else expr.func.attr.value) == "type"
        and len(expr.args) == 1
        and expr.args[0].keyword is None
        and not expr.args[0].star
        and is_builtin(ctx, expr.func)
    )


def _classes(ctx: FileContext, node: cst.CSTNode) -> cst.CSTNode:
    """The outermost tuple or ``|`` union of classes ``node`` stands in (itself if none)."""
    import libcst as cst

    while True:
        parent = ctx.parent(node)
        if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, cst.BitOr):
            node = parent
        elif isinstance(parent, cst.Element) and isinstance(ctx.parent(parent), cst.Tuple):
            node = ctx.parent(parent) or parent
        else:
            return node


def _class_argument(ctx: FileContext, arg: cst.Arg, call: cst.CSTNode | None) -> bool:
    """Is ``arg`` the class of a builtin ``isinstance(x, cls)`` / ``issubclass(t, cls)``?"""
    import libcst as cst

    from nnx_lint.analysis.context import is_builtin

    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Name):
        return False
    if call.func.value not in ("isinstance", "issubclass") or not is_builtin(ctx, call.func):
        return False  # another function, or the file binds its own isinstance
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return len(positional) == len(call.args) == 2 and positional[1] is arg


def prefilter(source: str) -> bool:
    return "VariableState" in source


RULE = Rule(CODE, NAME, SUMMARY, DOC, check, prefilter=prefilter)
