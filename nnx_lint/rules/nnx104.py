"""NNX104: ``.value`` on an nnx.Variable, deprecated since flax 0.12.1 (an upgrade rule)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnx_lint.rules import Rule, report

if TYPE_CHECKING:
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
        self.count[...] += 1
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

An augmented assignment `v.value += x` becomes `v[...] += x`, as flax's own error for
`v += x` advises: unsafe (with `--unsafe-fixes`), as the result is cast to the Variable's
dtype and shape (an `int32` array `+= 0.5` stays `int32`, where `.value += 0.5` made it
`float32`), and it fails for a Variable holding a Python number. An assignment with several
targets (`a = v.value = x`) gets no fix.
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
            help_ = f"write `{var}.set_value(...)` (no automatic fix: several targets)"
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
    if found.access == Access.READ:
        a, b = ctx.span(found.node)
        title = "Use `get_value()`, which `.value` calls (without the warning)"
        return Fix(Applicability.SAFE, title, (Edit(a, b, f"{var}.get_value()"),))
    statement = found.statement
    if isinstance(statement, cst.AugAssign):
        a, b = ctx.span(found.node)
        title = (
            "Use `[...]` (unsafe: the result is written into the Variable's existing dtype "
            "and shape)"
        )
        return Fix(Applicability.UNSAFE, title, (Edit(a, b, f"{var}[...]"),))
    assert isinstance(statement, cst.Assign)  # a write
    if len(statement.targets) != 1:
        return None
    a, b = ctx.span(statement)
    v_start, v_end = ctx.span(statement.value)
    value = ctx.source[v_start:v_end]
    if isinstance(statement.value, cst.Tuple) and not statement.value.lpar:
        value = f"({value})"  # `v.value = a, b`
    title = "Use `set_value(...)`, which the `.value` setter calls (without the warning)"
    return Fix(Applicability.SAFE, title, (Edit(a, b, f"{var}.set_value({value})"),))


def prefilter(source: str) -> bool:
    return ".value" in source


RULE = Rule(CODE, NAME, SUMMARY, DOC, check, prefilter=prefilter)
