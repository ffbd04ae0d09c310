"""The text prefilter: a file that names no JAX transform is never parsed (every rule needs
one), and every spelling of a transform the rules recognise passes it."""

from __future__ import annotations

import pytest

from nnx_lint.analysis.nnx_api import mentions_transform

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
