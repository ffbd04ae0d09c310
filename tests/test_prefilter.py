"""The text prefilter: a file that names no JAX transform is never parsed (every rule needs
one), and every spelling of a transform the rules recognise passes it."""

from __future__ import annotations

import os
from pathlib import Path

import helpers
import pytest

from nnx_lint.analysis.nnx_api import mentions_transform
from nnx_lint.analysis.project_index import ProjectIndex, could_have_findings, scan_source
from nnx_lint.project import build_index

NAMED = [
    "jax.jit(f)",
    "from jax import jit",
    "@nnx.jit\ndef f(): ...",
    "jax.vmap(f)(xs)",
    "from jax import vmap as batched",
    "jax.lax.scan(body, 0, xs)",
    "from jax import lax\nlax.cond(p, f, g)",
    "from jax.lax import scan",
    "from jax.lax import (\n    cond as lax_cond,\n    switch,\n)",
    "import jax\njax.grad(loss)(x)",
    "from jax import numpy as jnp, grad",
    "jax.value_and_grad(loss)(x)",
    "jax.checkpoint(f)",
    "@jax.remat\ndef f(): ...",
    "jax.lax.fori_loop(0, 3, body, x)",
    "jax.lax.while_loop(c, b, x)",
    "lax.map(f, xs)",
    "jax.shard_map(f, mesh=mesh)",
    "from jax.experimental.shard_map import shard_map",
    "jax.pmap(f)",
    "@jax.custom_vjp\ndef f(x): ...",
    "jax.jacrev(f)",
]
NOT_NAMED = [
    "from flax import nnx\n\nmodel = nnx.Linear(2, 3, rngs=nnx.Rngs(0))\n",
    "import os\n",
    "from jax import lax\ny = lax.dot_general(a, b, dims)\n",
    "config = dict(gradient_checkpointing=True, scan_layers=False)\n",
    "mapping = {k: v for k, v in pairs}\nsecond = cond_value\n",
    "from jax.lax import (\n    dot_general,\n    conv,\n)\n",
]


@pytest.mark.parametrize("source", NAMED)
def test_a_transform_named_passes(source: str) -> None:
    assert mentions_transform(source)


@pytest.mark.parametrize("source", NOT_NAMED)
def test_no_transform_named_is_skipped(source: str) -> None:
    assert not mentions_transform(source)


# NNX005 needs tree mode spelled, not a JAX transform: its own prefilter.
TREE_MODE_SPELLED = [
    "@nnx.jit(graph=False)\ndef f(m): ...",
    "step = nnx.grad(loss, graph_updates = False)",
    "nnx.set_graph_mode(False)",
    "with nnx.set_graph_updates(False):\n    pass",
    'flax.config.update("nnx_graph_mode", False)',
    'os.environ["NNX_GRAPH_UPDATES"] = "0"',
]
TREE_MODE_NOT_SPELLED = [
    "graphdef, state = nnx.split(model)",
    "@nnx.jit(graph=True)\ndef f(m): ...",
    "graph = build_graph()\nnnx.jit(f)",
]


@pytest.mark.parametrize("source", TREE_MODE_SPELLED)
def test_tree_mode_spellings_pass_nnx005s_prefilter(source):
    from nnx_lint.rules import RULES_BY_CODE

    assert RULES_BY_CODE["NNX005"].prefilter(source)


@pytest.mark.parametrize("source", TREE_MODE_NOT_SPELLED)
def test_nnx005s_prefilter_leaves_out_files_without_tree_mode(source):
    from nnx_lint.rules import RULES_BY_CODE

    assert not RULES_BY_CODE["NNX005"].prefilter(source)


# The second step (``could_have_findings``): an NNX object needs nnx named, in the text or
# through the file's imports (``names_nnx``, where the index read this very text).
PACKAGE = {
    "pkg/__init__.py": "from flax.nnx import Linear\n\nfrom .models import Ranker\n",
    "pkg/models.py": (
        "from flax import nnx\n\n\nclass Ranker(nnx.Module):\n    @classmethod\n"
        "    def create(cls, seed):\n        return cls()\n\n\n"
        "class Dropout(nnx.Module):  # named as linen's is\n    pass\n"
    ),
    "pkg/util.py": "def helper(x):\n    return x\n",
    # Plain classes that hold NNX objects: the analysis follows `t.model` whatever `t` is.
    "pkg/trainers.py": (
        "from .models import Ranker\n\n\nclass Trainer:\n    def __init__(self):\n"
        "        self.model = Ranker()\n\n\nclass Outer:\n    def __init__(self):\n"
        "        self.inner = Trainer()\n"
    ),
}
NAMES_NNX = {
    "re-export": "import jax\nfrom pkg import Linear\n\nstep = jax.jit(Linear(2, 3, rngs=None))\n",
    "module attribute": "import jax\nimport pkg.models\n\nstep = jax.jit(pkg.models.Ranker())\n",
    "module alias": "import jax\nimport pkg.models\n\nmod = pkg.models\n"
    "step = jax.jit(mod.Ranker())\n",
    "classmethod": "import jax\nfrom pkg import models as m\n\nf = jax.jit(m.Ranker.create(0))\n",
    "string annotation": 'import jax\nimport pkg\n\n\ndef f(m: "pkg.Ranker"):\n'
    "    return jax.jit(m)\n",
    "plain class holding one": "import jax\nfrom pkg.trainers import Trainer\n\nt = Trainer()\n"
    "step = jax.jit(lambda x: t.model(x))\n",
    "holding a holder": "import jax\nfrom pkg.trainers import Outer\n\no = Outer()\n"
    "step = jax.jit(lambda x: o.inner.model(x))\n",
    "relative import, no space": "import jax\n\nfrom.models import Ranker\n\n"
    "f = jax.jit(Ranker())\n",
    "relative import, continued": "import jax\n\nfrom \\\n    .models import Ranker\n\n"
    "f = jax.jit(Ranker())\n",
    "function-level import": "import jax\n\n\ndef f():\n    from pkg.models import Ranker\n\n"
    "    return jax.jit(Ranker())\n",
    "relative import": "import jax\n\nfrom .models import Ranker\n\nstep = jax.jit(Ranker())\n",
}
NAMES_NOTHING_NNX = {
    # flax named, and a word that is also a class of the project's: linen's Dropout
    "linen": "import jax\nfrom flax import linen as nn\n\nstep = jax.jit(nn.Dropout(0.5).apply)\n",
    # a module of the project's that holds nothing NNX
    "helpers only": "import jax\nfrom pkg import util\n\nstep = jax.jit(util.helper)\n",
}


def _index(tmp_path: Path, name: str, source: str) -> tuple[ProjectIndex, str]:
    files = {**PACKAGE, f"pkg/{name}.py": source}
    for relative, text in files.items():
        helpers.write(tmp_path / relative, text)
    (tmp_path / "pyproject.toml").write_text("")
    return build_index([tmp_path / f for f in files]), os.path.abspath(tmp_path / f"pkg/{name}.py")


@pytest.mark.parametrize("source", NAMES_NNX.values(), ids=NAMES_NNX)
def test_a_file_that_names_nnx_through_its_imports_passes(tmp_path: Path, source: str) -> None:
    index, path = _index(tmp_path, "case", source)
    assert "nnx" not in source and "flax" not in source
    assert index.names_nnx(path, source) is True
    assert could_have_findings(source, index, path)


@pytest.mark.parametrize("source", NAMES_NOTHING_NNX.values(), ids=NAMES_NOTHING_NNX)
def test_a_file_that_names_nothing_nnx_is_left_out(tmp_path: Path, source: str) -> None:
    index, path = _index(tmp_path, "case", source)
    assert mentions_transform(source) and index.names_nnx(path, source) is False
    assert not could_have_findings(source, index, path)
    # The text as it is now, not as the index read it: the same answer.
    assert not could_have_findings(source + "# edited\n", index, path)
    # A text that does not parse, or no index: flax named is enough.
    assert could_have_findings(source + "def (\n", index, path) == ("flax" in source)
    assert could_have_findings(source, None, path) == ("flax" in source)


def test_a_text_that_spells_no_module_of_the_project_is_not_parsed(tmp_path, monkeypatch):
    from nnx_lint.analysis import project_index

    source = "import jax\n\nstep = jax.jit(lambda x: x * 2)\n"
    index, path = _index(tmp_path, "case", source)

    def parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(project_index.ast, "parse", parse)
    assert index.names_nnx(path, source) is False
    with pytest.raises(AssertionError, match="parsed"):  # a relative import: it must be read
        index.names_nnx(path, "from . import util\n" + source)


def test_a_very_long_attribute_chain_is_no_error(tmp_path: Path) -> None:
    source = "import jax\nfrom pkg import util\n\nstep = jax.jit(lambda x: x)\n\n\ndef f():\n"
    source += "    return util" + ".a" * 1500 + "\n"  # deeper than the recursion limit
    index, path = _index(tmp_path, "case", source)
    assert index.names_nnx(path, source) is False
    assert could_have_findings(source, index, path) is False


def test_a_call_too_deep_to_walk_leaves_its_file_out_of_the_index(tmp_path: Path) -> None:
    """`self.b.b....b(x)` in a method, deeper than a walk of it can go: the file has no facts
    (as one that does not parse), and the other files are indexed and linted as ever."""
    deep = "import flax.nnx as nnx\n\n\nclass M(nnx.Module):\n    def __call__(self, x):\n"
    deep += "        return self" + ".b" * 400 + "(x)\n"
    assert scan_source(deep, "pkg.deep") is None
    ok = (
        "import jax\nimport flax.nnx as nnx\n\n\nclass N(nnx.Module):\n"
        "    def __init__(self, rngs):\n        self.drop = nnx.Dropout(0.5, rngs=rngs)\n\n"
        "    def __call__(self, x):\n        return self.drop(x)\n\n\n"
        "f = jax.jit(N(nnx.Rngs(0)))\n"
    )
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "deep.py").write_text(deep)
    (tmp_path / "ok.py").write_text(ok)
    result = helpers.nnx_lint(tmp_path, "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("ok.py:13:5: NNX001 ")


@pytest.mark.parametrize(
    "models, train",
    [
        # a project's own package named as a library is: its names are the project's
        ("optax/models.py", ("optax/train.py", "from .models import Ranker")),
        # an import spelled in another script: Python reads `ｍodels` as `models` (NFKC)
        ("models.py", ("train.py", "from ｍodels import Ranker")),
    ],
    ids=["package named as a library", "NFKC spelling"],
)
def test_imports_are_read_as_python_reads_them(tmp_path: Path, models: str, train: tuple):
    name, importer = train
    source = f"import jax\n\n{importer}\n\nstep = jax.jit(Ranker())\n"
    files = {models: PACKAGE["pkg/models.py"], name: source}
    if "/" in models:
        files[models.replace("models.py", "__init__.py")] = ""
    for relative, text in files.items():
        helpers.write(tmp_path / relative, text)
    (tmp_path / "pyproject.toml").write_text("")
    index = build_index([tmp_path / f for f in files])
    assert index.names_nnx(os.path.abspath(tmp_path / name), source) is True
