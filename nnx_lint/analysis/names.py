"""One resolution of imports and annotations, for both parsers.

The project index reads other files with the standard library's ``ast`` (cheap); the checked
file is read with libcst (for fixes). Both turn what they see into the small representation
below, and this module alone decides what an import binds and which class an annotation names,
so the two sides cannot drift apart.

- An import becomes ``ImportedName``\\ s: the local name and the normalized qualified name.
- An annotation becomes a ``TypeExpr``: a dotted name, a subscript (``Optional[X]``,
  ``Annotated[X, ...]``, ``list[X]``), a union (``X | None``) or a string to parse. Anything
  else is ``None``. ``annotated_class`` then gives the one class it stands for, if any:
  ``X``, ``Optional[X]``, ``Union[X, Y]`` / ``X | Y`` (the first that resolves),
  ``Annotated[X, ...]``, and those in strings (``"X"``); a sequence of X (``list[X]``,
  ``Sequence[X]``, ``tuple[X, ...]``) stands for X too, as both sides have always read it: a
  closure over it may call its elements. Any other generic (``GraphDef[Foo]``,
  ``dict[str, X]``) stands for no class.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nnx_lint.analysis import nnx_api

TYPE_CHECKING = False  # as typing's: a replayed run does not import typing (``runs``)
if TYPE_CHECKING:  # libcst is imported when a file is checked, not with the project index
    import libcst as cst


@dataclass(frozen=True)
class ImportedName:
    local: str  # the name the import binds in the file
    qualname: str  # what it names, normalized (``flax.nnx.Linear``)


def resolve_relative(module: str | None, level: int, package: str) -> str:
    """The absolute module named by ``from <level dots><module> import ...`` in ``package``."""
    if not level:
        return module or ""
    base = package.split(".") if package else []
    if level > 1:
        base = base[: len(base) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base)


def import_names(aliases: Sequence[tuple[str, str | None]]) -> list[ImportedName]:
    """``import a.b`` binds ``a``; ``import a.b as c`` binds ``c`` to ``a.b``."""
    out = []
    for name, asname in aliases:
        if asname:
            out.append(ImportedName(asname, nnx_api.normalize(name)))
        else:
            head = name.partition(".")[0]
            out.append(ImportedName(head, head))
    return out


def from_import_names(
    module: str | None, level: int, package: str, aliases: Sequence[tuple[str, str | None]]
) -> list[ImportedName]:
    """``from module import name as asname`` (relative to ``package``); ``*`` binds nothing."""
    base = resolve_relative(module, level, package)
    return [
        ImportedName(asname or name, nnx_api.normalize(f"{base}.{name}" if base else name))
        for name, asname in aliases
        if name != "*"
    ]


# Annotations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dotted:
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Subscript:
    base: TypeExpr
    args: tuple[TypeExpr, ...]


@dataclass(frozen=True)
class Union:
    options: tuple[TypeExpr, ...]


@dataclass(frozen=True)
class Text:
    value: str  # a string annotation, parsed when resolved


TypeExpr = Dotted | Subscript | Union | Text | None

UNION = frozenset({"typing.Union", "typing_extensions.Union"})  # any argument may be the class
# Subscripts that stand for their first argument: Optional, Annotated, and containers of it.
FIRST_ARGUMENT = frozenset(
    f"{module}.{name}"
    for module in ("typing", "typing_extensions", "collections.abc")
    for name in """Optional Annotated List Tuple Set FrozenSet Sequence MutableSequence
    Iterable Iterator Collection""".split()
)
BUILTIN_CONTAINERS = frozenset({"list", "tuple", "set", "frozenset"})


def from_ast(node: ast.expr | None) -> TypeExpr:
    if isinstance(node, ast.Name):
        return Dotted((node.id,))
    if isinstance(node, ast.Attribute):
        base = from_ast(node.value)
        return Dotted((*base.parts, node.attr)) if isinstance(base, Dotted) else None
    if isinstance(node, ast.Subscript):
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return Subscript(from_ast(node.value), tuple(map(from_ast, items)))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return Union((from_ast(node.left), from_ast(node.right)))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return Text(node.value)
    return None


def from_cst(node: cst.BaseExpression | None) -> TypeExpr:
    import libcst as cst

    if isinstance(node, cst.Name):
        return Dotted((node.value,))
    if isinstance(node, cst.Attribute):
        base = from_cst(node.value)
        return Dotted((*base.parts, node.attr.value)) if isinstance(base, Dotted) else None
    if isinstance(node, cst.Subscript):
        items: list[TypeExpr] = []
        for element in node.slice:
            index = element.slice
            items.append(from_cst(index.value) if isinstance(index, cst.Index) else None)
        return Subscript(from_cst(node.value), tuple(items))
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return Union((from_cst(node.left), from_cst(node.right)))
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        value = node.evaluated_value
        return Text(value) if isinstance(value, str) else None
    return None


def parse_text(text: str) -> TypeExpr:
    try:
        return from_ast(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def annotated_class(
    expr: TypeExpr,
    resolve: Callable[[tuple[str, ...]], str | None],
    depth: int = 0,
    resolve_text: Callable[[tuple[str, ...]], str | None] | None = None,
) -> str | None:
    """The qualified name of the class ``expr`` says a value is (see the module's docstring).
    ``resolve`` gives a dotted name's qualified name where the annotation stands, or None;
    ``resolve_text`` (default: ``resolve``) does for names inside a string annotation, which
    may name what is bound later (a forward reference)."""
    if depth > 8 or expr is None:
        return None
    if isinstance(expr, Dotted):
        qual = resolve(expr.parts)
        return nnx_api.normalize(qual) if qual else None
    if isinstance(expr, Text):
        late = resolve_text or resolve
        return annotated_class(parse_text(expr.value), late, depth + 1, late)
    if isinstance(expr, Union):
        options: Sequence[TypeExpr] = expr.options
    else:  # a Subscript, the one kind of TypeExpr left
        base = annotated_class(expr.base, resolve, depth + 1, resolve_text)
        builtin = (
            base is None
            and isinstance(expr.base, Dotted)
            and expr.base.parts[0] in BUILTIN_CONTAINERS
            and len(expr.base.parts) == 1
        )
        if base in UNION:
            options = expr.args
        elif base in FIRST_ARGUMENT or builtin:
            options = expr.args[:1]
        else:
            return None  # GraphDef[Foo], dict[str, X], ...: not an X
    for option in options:
        found = annotated_class(option, resolve, depth + 1, resolve_text)
        if found is not None:
            return found
    return None
