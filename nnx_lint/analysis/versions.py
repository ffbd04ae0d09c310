"""Which flax version the user's code runs on. The front ends resolve the setting (the
configuration, else the installed flax: ``nnx_lint.settings.installed_flax``); None here means
the newest behaviour."""

from __future__ import annotations

NEWEST = (999,)
CACHED_PARTIAL_JIT = (0, 10, 4)  # nnx.cached_partial from flax 0.10.4 on
TRACE_LEVEL_CHECKED = (0, 10, 5)  # changes from another trace raise; tracers leak before
PYTREE_MODULES = (0, 11)  # Modules are JAX pytrees from flax 0.11.0 on
OPTIMIZER_WRT = (0, 11)  # nnx.Optimizer requires wrt=, update(model, grads), from flax 0.11.0 on
VARIABLE_STATE_REMOVED = (0, 11)  # nnx.VariableState is nnx.Variable from flax 0.11.0 on
STATIC_CONTAINERS_ERROR = (0, 12, 0)  # plain list/tuple/dict of Modules/arrays: ValueError
VALUE_DEPRECATED = (0, 12, 1)  # Variable.value warns; get_value()/set_value() from 0.12.1 on
BOUND_METHODS_REFUSED = (0, 12, 1)  # nnx.jit(obj.method): ValueError, no bound methods
ITER_FUNCTIONS = (0, 12, 1)  # nnx.iter_modules(m)/iter_children(m); the methods warn
TREE_MODE_JIT = (0, 12, 5)  # nnx.jit(..., graph=False) and nnx.jit_partial from flax 0.12.5 on
GRAPH_UPDATES_OPTION = (0, 12, 6)  # graph_updates=False and nnx.set_graph_updates from 0.12.6 on
AS_PURE = (0, 12, 7)  # nnx.as_pure, nnx.as_abstract; nnx.pure, abstract_with_sharding warn
WITH_VARS = (0, 12, 8)  # nnx.with_vars; nnx.vars_as warns


def target_flax(setting: tuple[int, ...] | None) -> tuple[int, ...]:
    return setting or NEWEST
