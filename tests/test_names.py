"""One resolution of imports and annotations: the project index (ast) and the checked file
(libcst) read every spelling the same way, because both go through ``analysis.names``."""

from __future__ import annotations

import libcst as cst
import pytest

from nnx_lint.analysis.context import FileContext, Instance
from nnx_lint.analysis.project_index import ProjectIndex, scan_source
from nnx_lint.engine import check_source
from nnx_lint.settings import Settings

IMPORTS = """\
import typing
from typing import Annotated, Optional, Union

from flax import nnx
from flax import nnx as fnx
from flax.nnx import Dropout as D

Drop = nnx.Dropout
Opt = Optional
"""

# annotation -> the class both sides must find (None: not an instance of a class)
CASES = {
    "nnx.Dropout": "flax.nnx.Dropout",
    "fnx.Dropout": "flax.nnx.Dropout",
    "D": "flax.nnx.Dropout",
    '"nnx.Dropout"': "flax.nnx.Dropout",
    'Annotated[nnx.Dropout, "doc"]': "flax.nnx.Dropout",
    'Annotated["nnx.Dropout", "doc"]': "flax.nnx.Dropout",
    "Optional[nnx.Dropout]": "flax.nnx.Dropout",
    "typing.Optional[D]": "flax.nnx.Dropout",
    "Union[None, nnx.Dropout]": "flax.nnx.Dropout",
    "Union[int, fnx.Dropout]": "flax.nnx.Dropout",
    "nnx.Dropout | None": "flax.nnx.Dropout",
    "None | nnx.Dropout": "flax.nnx.Dropout",
    '"nnx.Dropout | None"': "flax.nnx.Dropout",
    "Optional[Annotated[nnx.BatchNorm, 1]]": "flax.nnx.BatchNorm",
    "list[nnx.Dropout]": "flax.nnx.Dropout",  # a list of Dropouts: what a closure may call
    "dict[str, nnx.Dropout]": None,
    "Drop": "flax.nnx.Dropout",
    "Opt[Drop]": "flax.nnx.Dropout",
    '"Drop"': "flax.nnx.Dropout",
    "int": None,
    '"not valid python"': None,
}


def _source(annotation: str) -> str:
    return f"{IMPORTS}\n\nclass Holder:\n    attr: {annotation}\n\n\nvalue: {annotation} = make()\n"


def _ast_side(source: str) -> str | None:
    facts = scan_source(source, "m")
    assert facts is not None
    return facts.classes["m.Holder"].attrs.get("attr")


def _libcst_side(source: str, name: str = "value") -> str | None:
    ctx = FileContext(
        cst.parse_module(source),
        source,
        "m.py",
        ProjectIndex(),
        Settings(),
        key="/m.py",
        module_name="m",
    )
    scope = ctx.module_scope
    for s in scope.walk():
        if name in s.bindings:
            scope = s
            break
    value = ctx.value_of_binding(scope.bindings[name][-1])
    return value.cls if isinstance(value, Instance) else None


@pytest.mark.parametrize("annotation", CASES)
def test_both_sides_agree_on_annotations(annotation):
    source = _source(annotation)
    assert _ast_side(source) == CASES[annotation]
    assert _libcst_side(source) == CASES[annotation]


def test_both_sides_agree_on_function_local_imports():
    source = (
        "class Holder:\n"
        "    def __init__(self):\n"
        "        from flax import nnx as local\n"
        "        self.attr = local.Dropout(0.5, rngs=local.Rngs(0))\n\n\n"
        "def build():\n"
        "    from flax import nnx as local\n"
        "    inner = local.Dropout(0.5, rngs=local.Rngs(0))\n"
        "    return inner\n"
    )
    assert _ast_side(source) == "flax.nnx.Dropout"
    assert _libcst_side(source, "inner") == "flax.nnx.Dropout"


def test_both_sides_agree_on_reexports_and_relative_imports():
    package = "from .models import Ranker as Ranker\n"
    models = "from flax import nnx\n\n\nclass Ranker(nnx.Module):\n    pass\n"
    user = (
        "from pkg import Ranker\nfrom . import models\n\n\nclass Holder:\n    attr: Ranker\n"
        "    other: models.Ranker\n\n\nvalue: Ranker = make()\nother: models.Ranker = make()\n"
    )
    files = {
        "/p/pkg/__init__.py": scan_source(package, "pkg", is_package=True),
        "/p/pkg/models.py": scan_source(models, "pkg.models"),
        "/p/pkg/user.py": scan_source(user, "pkg.user"),
    }
    index = ProjectIndex(files)  # type: ignore[arg-type]
    holder = files["/p/pkg/user.py"].classes["pkg.user.Holder"]  # type: ignore[union-attr]
    assert index.resolve(holder.attrs["attr"]) == "pkg.models.Ranker"
    assert index.resolve(holder.attrs["other"]) == "pkg.models.Ranker"
    ctx = FileContext(
        cst.parse_module(user),
        user,
        "/p/pkg/user.py",
        index,
        Settings(),
        key="/p/pkg/user.py",
        module_name="pkg.user",
    )
    for name in ("value", "other"):
        value = ctx.value_of_binding(ctx.module_scope.bindings[name][-1])
        assert isinstance(value, Instance) and value.nnx
        assert index.resolve(value.cls or "") == "pkg.models.Ranker"


def test_a_project_reexport_of_a_flax_class_is_that_class_on_both_sides():
    """``pkg/__init__.py: from flax.nnx import Dropout, Module, Variable``: ``pkg.Dropout`` is
    flax's Dropout, a class deriving from ``pkg.Module`` a Module, from ``pkg.Variable`` a
    Variable, whether the file reads them by name or through the package."""
    package = "from flax.nnx import Dropout, Module, Variable\n"
    user = (
        "import pkg\nfrom pkg import Dropout, Module, Variable\n\n\n"
        "class Net(Module):\n    pass\n\n\nclass Count(pkg.Variable):\n    pass\n\n\n"
        "drop = Dropout(0.5)\nalso: pkg.Dropout = make()\n"
    )
    files = {
        "/p/pkg/__init__.py": scan_source(package, "pkg", is_package=True),
        "/p/user.py": scan_source(user, "user"),
    }
    index = ProjectIndex(files)  # type: ignore[arg-type]
    assert index.foreign("pkg.Dropout") == "flax.nnx.Dropout"
    assert index.foreign("user.Net") == "user.Net"  # the project's own class keeps its name
    assert index.is_module("user.Net") and index.is_nnx_class("user.Net")
    assert index.is_variable("user.Count") and not index.is_module("user.Count")
    assert index.is_module("pkg.Dropout") and index.changes_state("pkg.Dropout")
    module = cst.parse_module(user)
    ctx = FileContext(
        module, user, "/p/user.py", index, Settings(), key="/p/user.py", module_name="user"
    )
    for name in ("drop", "also"):
        value = ctx.value_of_binding(ctx.module_scope.bindings[name][-1])
        assert isinstance(value, Instance) and value.nnx and value.cls == "flax.nnx.Dropout"


@pytest.mark.parametrize(
    ("package", "rebound"),
    [
        ("from flax.nnx import Dropout\nDropout = make()\n", {"Dropout"}),
        ("from flax.nnx import Dropout\ndef Dropout(rate):\n    pass\n", {"Dropout"}),
        ("from flax.nnx import Dropout\nclass Dropout:\n    pass\n", {"Dropout"}),
        (
            "try:\n    from .fast import Dropout\nexcept ImportError:\n"
            "    from flax.nnx import Dropout\n",
            {"Dropout"},
        ),
        ("from flax.nnx import Dropout\nfrom .impl import *\n", {"Dropout"}),
        ("from flax.nnx import Dropout\nfor Dropout in ():\n    pass\n", {"Dropout"}),
        ("from flax.nnx import Dropout\nwith f() as Dropout:\n    pass\n", {"Dropout"}),
        (
            "from flax.nnx import Dropout\nmatch x:\n    case [*Dropout]:\n        pass\n",
            {"Dropout"},
        ),
        ("from flax.nnx import Dropout\nif (Dropout := f()):\n    pass\n", {"Dropout"}),
        # Bound once: an import, an alias of one, names local to a function, another name.
        ("from flax.nnx import Dropout\n__all__ = ['Dropout']\n", set()),
        ("from flax import nnx\nDropout = nnx.Dropout\n", set()),
        ("from flax.nnx import Dropout\ndef f():\n    Dropout = 1\n", set()),
        ("from .impl import *\nfrom flax.nnx import Dropout\n", set()),  # the import is last
        ("from flax.nnx import Dropout\nnames = [Dropout for Dropout in ()]\n", set()),
        ("from flax.nnx import Dropout\nDropout: type\n", set()),
        # What a lazy module __getattr__ returns, stated for type checkers (EasyDeL's packages).
        ("import typing\nif typing.TYPE_CHECKING:\n    from flax.nnx import Dropout\n", set()),
        ("from flax.nnx import Dropout\nclass Holder:\n    Dropout = None\n", set()),
    ],
)
def test_a_name_bound_again_after_its_reexport_is_not_followed(package, rebound):
    """What a package exports under a name it binds twice (imported, then assigned, defined,
    imported again) or before a star import cannot be told from its imports: ``foreign``
    does not follow it to flax's class (that made a false NNX001, with a fix that breaks).
    Names bound once (a comprehension's own variable, a bare annotation and a class
    attribute bind nothing at module level) are followed."""
    facts = scan_source(package, "pkg", is_package=True)
    assert facts is not None and facts.rebound == rebound
    index = ProjectIndex({"/p/pkg/__init__.py": facts})
    followed = "flax.nnx.Dropout" if not rebound else "pkg.Dropout"
    assert index.foreign("pkg.Dropout") == followed


def test_annotated_class_attribute_is_found_in_a_closure():
    """The drift the issue reported: `Annotated[...]` on a class attribute was not understood
    by the index, so a closure over `h.drop` was missed."""
    source = (
        "from typing import Annotated\n\nimport jax\nfrom flax import nnx\n\n\n"
        "class Holder:\n"
        '    drop: Annotated[nnx.Dropout, "doc"]\n\n\n'
        "h: Holder = make()\n\n\n"
        "@jax.jit\n"
        "def step(x):\n"
        "    return h.drop(x)\n"
    )
    found = check_source(source, "m.py")
    assert [(d.code, d.line) for d in found] == [("NNX001", 14)]
    assert "`h.drop`" in found[0].message


def test_bases_are_walked_in_pythons_lookup_order():
    """An attribute is found where Python finds it: depth first, left to right, a class shared
    by two bases after both (C3 on ordinary hierarchies)."""
    source = (
        "from flax import nnx\n\n\n"
        "class Base0(nnx.Module):\n    x: nnx.Dropout\n\n\n"
        "class A(Base0):\n    pass\n\n\n"
        "class B(nnx.Module):\n    x: nnx.Linear\n\n\n"
        "class C(A, B):\n    pass\n\n\n"
        "class Top(nnx.Module):\n    y: nnx.Linear\n\n\n"
        "class Left(Top):\n    pass\n\n\n"
        "class Right(Top):\n    y: nnx.Dropout\n\n\n"
        "class Diamond(Left, Right):\n    pass\n"
    )
    index = ProjectIndex({"/m.py": scan_source(source, "m")})  # type: ignore[dict-item]
    assert index.attr_type("m.C", "x") == "flax.nnx.Dropout"
    assert [f.qualname for f in index.ancestors("m.Diamond")] == [
        "m.Diamond",
        "m.Left",
        "m.Right",
        "m.Top",
    ]
    assert index.attr_type("m.Diamond", "y") == "flax.nnx.Dropout"
