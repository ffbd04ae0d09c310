"""NNX104: ``.value`` on an nnx.Variable, deprecated since flax 0.12.1 (an upgrade rule)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
    import libcst as cst

    from nnx_lint.analysis.containers import ValueAccess
    from nnx_lint.analysis.context import FileContext
    from nnx_lint.diagnostics import Diagnostic, Fix

CODE = "NNX104"
NAME = "variable-value-attribute"
SUMMARY = "`.value` on an nnx.Variable (deprecated in flax 0.12.1)"

DOC = """\
## variable-value-attribute (NNX104)

### What it does
An upgrade rule for flax 0.12.1 and later (selected with `--select NNX1`, when the target
flax version is 0.12.1 or later). It checks for reads, assignments and augmented assignments
of `.value` on an object known to be an `nnx.Variable` (`nnx.Param`, `nnx.BatchStat`, a
project subclass, ...): an attribute the class assigns a Variable (`self.w = nnx.Param(...)`,
then `self.w.value`), a name bound to one, or a parameter annotated with a Variable class.
What the object is comes from that evidence, never from its name: `.value` of a dict, an
enum or a dataclass field is not reported.

### Why is this bad?
Flax 0.12.1 deprecated `Variable.value`: each read warns `DeprecationWarning: '.value' access
is now deprecated. For Variable[Array] instances use: variable[...] For other Variable types
use: variable.get_value()`, and each assignment `'.value' setter is now deprecated. For
Variable[Array] instances use: variable[...] = value For other Variable types use:
variable.set_value(value)`. Under `-W error` (common in test suites) the code stops running,
and a later flax may drop the attribute.

### Example
```python
import jax.numpy as jnp
from flax import nnx


class Counter(nnx.Module):
    def __init__(self):
        self.count = nnx.Variable(jnp.array(0))
        self.total = nnx.Variable(jnp.array(0.0))

    def __call__(self, x):
        self.total.value = self.total.value + x.sum()
        self.count.value += 1
        return self.total.value / self.count.value
```

### Use instead
```python
import jax.numpy as jnp
from flax import nnx


class Counter(nnx.Module):
    def __init__(self):
        self.count = nnx.Variable(jnp.array(0))
        self.total = nnx.Variable(jnp.array(0.0))

    def __call__(self, x):
        self.total.set_value(self.total.get_value() + x.sum())
        self.count.set_value(self.count.get_value() + 1)
        return self.total.get_value() / self.count.get_value()
```
For a Variable holding an array, `variable[...]` reads the same value as `get_value()`.

### Fix safety
On flax 0.12.1 to 0.12.8 the `.value` property is `get_value()` with a warning and its
setter is `set_value(value)` with a warning, so the fix writes those: a read `v.value`
becomes `v.get_value()` (also inside `v.value.shape`), an assignment `v.value = x` becomes
`v.set_value(x)`. Safe. It does not write `v[...]`: reading it raises TypeError for a Variable
holding a Python number, `None`, a tuple or a dict, and assigning `v[...] = x` writes into the
existing array (a new shape raises "Incompatible types for broadcasting", a new dtype is cast
to the old one, a numpy value is overwritten in place), where `v.value = x` replaced it.

An augmented assignment `v.value += x` becomes `v.set_value(v.get_value() + x)`, which is
what `v.value += x` runs for a jax array or a Python number (same dtype promotion: an
`int32` array `+= 0.5` becomes `float32`, measured on flax 0.12.8), with `--unsafe-fixes`
only: a numpy array value was changed in place by `+=` (`.value` returns the array itself),
where `+` makes a new one, so another reference to that array no longer sees the change. A
list, tuple or dict value is not affected: on flax 0.12.8 `.value` returns a copy of the
container, so `v.value += [x]` never changed a list held elsewhere either. It does
not write `v[...] += x`: that casts the result to the Variable's dtype (the `int32` array
stays `int32`) and fails for a Variable holding a Python number. No fix where the Variable
is not a name or attributes of one (it would be evaluated twice), for an assignment with
several targets (`a = v.value = x`), an element of a tuple target (`v.value, w.value = ...`),
or the target of a loop or `with`.
"""

READ = (
    "`{text}` reads Variable `{var}` (`{cls}`) through `.value`, deprecated since flax "
    "0.12.1: it warns DeprecationWarning (\"'.value' access is now deprecated\")"
)
WRITE = (
    "`{text}` assigns Variable `{var}` (`{cls}`) through `.value`, deprecated since "
    "flax 0.12.1: it warns DeprecationWarning (\"'.value' setter is now deprecated\")"
)
AUGMENTED = (
    "`{text}` updates Variable `{var}` (`{cls}`) through `.value`, deprecated since "
    "flax 0.12.1: it warns DeprecationWarning twice (\"'.value' access is now deprecated\", "
    "\"'.value' setter is now deprecated\")"
)
SHORT = "`.value` on an `{cls}`: deprecated since flax 0.12.1"


def check(ctx: FileContext) -> Iterator[Diagnostic]:
    from nnx_lint.analysis.containers import Access, value_accesses
    from nnx_lint.analysis.versions import VALUE_DEPRECATED, target_flax

    if target_flax(ctx.settings.target_flax_version) < VALUE_DEPRECATED:
        return
    for found in value_accesses(ctx):
        flax_class = found.cls.startswith("flax.nnx.")
        cls = found.cls.replace("flax.nnx.", "nnx.") if flax_class else found.cls.split(".")[-1]
        var = ctx.code(found.variable)
        template = {Access.READ: READ, Access.WRITE: WRITE, Access.AUGMENTED: AUGMENTED}
        node = found.statement if found.statement is not None else found.node
        text = template[found.access].format(text=_line(ctx.code(node)), var=var, cls=cls)
        short = SHORT.format(cls=cls)
        fix = _fix(ctx, found)
        if fix is None:
            help_ = f"write `{var}.set_value(...)` (no automatic fix: {_unfixable(found)})"
            yield report(ctx, CODE, found.node, text, None, help_, summary=short)
        else:
            yield report(ctx, CODE, found.node, text, fix, summary=short)


def _line(code: str) -> str:
    first = code.strip().splitlines()[0] if code.strip() else code
    return first if first == code.strip() else first + " ..."


def _fix(ctx: FileContext, found: ValueAccess) -> Fix | None:
    import libcst as cst

    from nnx_lint.analysis.containers import Access
    from nnx_lint.diagnostics import Applicability, Edit, Fix

    start, end = ctx.span(found.variable)
    var = ctx.source[start:end]
    if found.access is Access.READ:
        a, b = ctx.span(found.node)
        title = "Use `get_value()`, which `.value` calls (without the warning)"
        return Fix(Applicability.SAFE, title, (Edit(a, b, f"{var}.get_value()"),))
    statement = found.statement
    if isinstance(statement, cst.AugAssign):
        if not _plain(found.variable):
            return None  # the rewrite evaluates the Variable's expression twice
        operator = ctx.code(statement.operator).strip()[:-1]
        r_start, r_end = ctx.span(statement.value)
        value = ctx.source[r_start:r_end]
        atoms = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)
        if not statement.value.lpar and not isinstance(statement.value, atoms):
            value = f"({value})"  # `v.value *= a + b` is `v.value * (a + b)`
        a, b = ctx.span(statement)
        text = f"{var}.set_value({var}.get_value() {operator} {value})"
        title = (
            f"Use `set_value(get_value() {operator} ...)`, what `.value {operator}=` runs "
            "(unsafe: a numpy array value was changed in place before)"
        )
        return Fix(Applicability.UNSAFE, title, (Edit(a, b, text),))
    if not isinstance(statement, cst.Assign) or len(statement.targets) != 1:
        return None  # several targets, an element of a tuple target, a loop's target
    if statement.targets[0].target is not found.node:
        return None
    a, b = ctx.span(statement)
    v_start, v_end = ctx.span(statement.value)
    value = ctx.source[v_start:v_end]
    if isinstance(statement.value, cst.Tuple) and not statement.value.lpar:
        value = f"({value})"  # `v.value = a, b`
    title = "Use `set_value(...)`, which the `.value` setter calls (without the warning)"
    return Fix(Applicability.SAFE, title, (Edit(a, b, f"{var}.set_value({value})"),))


def _plain(expr: cst.BaseExpression) -> bool:
    """Names and attributes only: evaluating it twice gives the same object."""
    import libcst as cst

    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name)


def _unfixable(found: ValueAccess) -> str:
    """Why a write gets no fix."""
    import libcst as cst

    statement = found.statement
    if isinstance(statement, cst.Assign):
        if len(statement.targets) != 1:
            return "several targets"
        return "an element of a tuple or list target"
    if isinstance(statement, cst.AnnAssign):
        return "an annotated assignment"
    if isinstance(statement, cst.AugAssign):
        return "the Variable's expression would be evaluated twice"
    return "the target of a loop or `with`"


def prefilter(source: str) -> bool:
    return ".value" in source


RULE = Rule(CODE, NAME, SUMMARY, DOC, check, prefilter=prefilter)
