"""What nnx-lint knows about the JAX and Flax NNX APIs (see shared flax-ground-truth)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

NNX = "flax.nnx"


class ObjectKind(enum.Enum):
    """What an NNX class is, as far as a JAX transform is concerned."""

    MODULE = "module"  # a Module whose calls change nothing of their own (Linear)
    MUTATING = "mutating"  # a Module whose calls change its state (Dropout, RNN cells)
    STATEFUL = "stateful"  # not a Module, but stateful when used (Optimizer, Rngs, Variable)


class Effect(enum.Enum):
    """What running a call does to the state of the NNX objects it reaches."""

    CHANGES = "changes"  # it changes state: tracing it under a JAX transform raises
    PURE = "pure"  # it only reads state: a compiled closure sees stale constants
    UNKNOWN = "unknown"  # it cannot be told (a class from outside the project, ...)


class JitKind(enum.Enum):
    JAX = "jax"
    NNX = "nnx"

    @property
    def spelled(self) -> str:
        return f"{self.value}.jit"


# Module classes exported by flax.nnx (0.10.5 to 0.12.8).
MODULE_CLASSES = frozenset(
    """BatchNorm Bidirectional Conv ConvTranspose Dict Dropout Einsum Embed GRUCell GroupNorm
    InstanceNorm LSTMCell LayerNorm Linear LinearGeneral List LoRA LoRALinear Module
    MultiHeadAttention OptimizedLSTMCell PReLU RMSNorm RNN RNNCellBase Sequential SimpleCell
    SpectralNorm WeightNorm Jit Pmap Remat Scan Vmap""".split()
)
# Modules whose calls change their own state (RNG draws, batch statistics, carries).
MUTATING_MODULES = frozenset(
    """BatchNorm Bidirectional Dropout GRUCell LSTMCell OptimizedLSTMCell RNN RNNCellBase
    SimpleCell SpectralNorm""".split()
)
# RNN cells: calling one steps it (pure); only initialize_carry draws from its Rngs.
RNN_CELLS = frozenset({"GRUCell", "LSTMCell", "OptimizedLSTMCell", "SimpleCell", "RNNCellBase"})
CONTAINERS = frozenset({"Module", "Sequential", "Dict", "List", "ToNNX"})
CALLING_CONTAINERS = frozenset({f"{NNX}.Sequential"})  # calling it calls what it holds
# Not Modules, but the same failure mode: objects whose state changes when used.
STATEFUL_OBJECTS = frozenset(
    """Optimizer ModelAndOptimizer Rngs RngStream Variable Param BatchStat Cache Intermediate
    Perturbation LoRAParam MetricState Metric MultiMetric Average Accuracy Welford""".split()
)
# Qualified-name prefixes of further NNX object classes.
OBJECT_NAMESPACES = ("flax.nnx.metrics.", "flax.nnx.bridge.ToNNX", "flax.nnx.bridge.Module")
# Functions that return NNX objects.
FACTORIES = frozenset(
    f"{NNX}.{name}"
    for name in """merge clone eval_shape graph.unflatten from_tree bridge.ToNNX bridge.lazy_init
    map view with_attributes recursive_map with_vars""".split()
)

JIT = {"jax.jit": JitKind.JAX, f"{NNX}.jit": JitKind.NNX}
CACHED_PARTIAL = "flax.nnx.cached_partial"

# NNX transforms that fail when the object they are given was captured by a JAX transform
# (jax.jit, jax.vmap, ..., nnx.jit of a closure): `nnx.scan(f)(x, self.layers)` in a Module's
# `__call__`, or an `@nnx.jit` method, then raises at once, whatever the call changes. What
# it raises (flax 0.11.0 and 0.12.8 alike); passed as an argument instead, the object is fine.
_TRACE_LEVEL = 'ValueError ("Cannot extract graph node from different trace level")'
NESTED_TRANSFORMS = {
    f"{NNX}.jit": 'TraceContextError ("Cannot mutate Param from a different trace level")',
    f"{NNX}.vmap": _TRACE_LEVEL,
    f"{NNX}.scan": _TRACE_LEVEL,
    f"{NNX}.grad": _TRACE_LEVEL,
    f"{NNX}.value_and_grad": _TRACE_LEVEL,
    # splits the Rngs the object holds first (TraceContextError), if it holds any
    f"{NNX}.split_rngs": 'TraceContextError or ValueError ("... from a different trace level")',
}


class TransformKind(enum.Enum):
    """How a JAX transform other than jit hands its function the values it is given."""

    MAP = "map"  # vmap, pmap, shard_map, lax.map: each call's arguments, mapped over
    GRAD = "grad"  # grad, value_and_grad, jacfwd, jacrev: arguments at `argnums` differentiated
    CHECKPOINT = "checkpoint"  # checkpoint/remat, custom_vjp/jvp: the arguments as they are
    BRANCH = "branch"  # cond, switch: the operands, to the branch taken
    LOOP = "loop"  # scan, fori_loop, while_loop: a carry, handed back by every step


@dataclass(frozen=True)
class TransformSpec:
    """A JAX transform other than jit, as NNX004 knows it."""

    name: str  # as messages spell it: `jax.vmap`, `jax.lax.scan`
    kind: TransformKind
    functions: tuple[int, ...]  # positions of the functions it traces
    keywords: tuple[str, ...]  # their keyword names, in the same order
    # Applied at once (`lax.cond(pred, f, g, *operands)`): where its operands start. None: it
    # returns a transformed function, called later (`jax.vmap(f)(x)`).
    operands: int | None = None
    counterpart: str | None = None  # the NNX transform taking the same call, when there is one
    sequence: bool = False  # the functions come as a list (`lax.switch`'s branches)
    # Traces its function whenever it is called. custom_vjp/custom_jvp run it as plain Python
    # when called outside a transform: a closure is traced (and fails) only under the
    # transform that differentiates or maps it, which is reported there.
    traces: bool = True


def _spec(
    name: str,
    kind: TransformKind,
    *functions: tuple[int, str],
    operands: int | None = None,
    counterpart: str | None = None,
    sequence: bool = False,
    traces: bool = True,
) -> TransformSpec:
    positions = tuple(p for p, _ in functions)
    keywords = tuple(k for _, k in functions)
    return TransformSpec(name, kind, positions, keywords, operands, counterpart, sequence, traces)


_GRAD, _MAP, _LOOP = TransformKind.GRAD, TransformKind.MAP, TransformKind.LOOP
_CHECKPOINT, _BRANCH = TransformKind.CHECKPOINT, TransformKind.BRANCH
# JAX transforms other than jit, by qualified name (NNX004).
TRANSFORMS: dict[str, TransformSpec] = {
    "jax.vmap": _spec("jax.vmap", _MAP, (0, "fun"), counterpart="vmap"),
    "jax.pmap": _spec("jax.pmap", _MAP, (0, "fun")),
    "jax.shard_map": _spec("jax.shard_map", _MAP, (0, "f")),
    "jax.experimental.shard_map.shard_map": _spec("shard_map", _MAP, (0, "f")),
    "jax.grad": _spec("jax.grad", _GRAD, (0, "fun"), counterpart="grad"),
    "jax.value_and_grad": _spec(
        "jax.value_and_grad", _GRAD, (0, "fun"), counterpart="value_and_grad"
    ),
    "jax.jacfwd": _spec("jax.jacfwd", _GRAD, (0, "fun")),
    "jax.jacrev": _spec("jax.jacrev", _GRAD, (0, "fun")),
    "jax.checkpoint": _spec("jax.checkpoint", _CHECKPOINT, (0, "fun"), counterpart="remat"),
    "jax.remat": _spec("jax.remat", _CHECKPOINT, (0, "fun"), counterpart="remat"),
    "jax.ad_checkpoint.checkpoint": _spec(
        "jax.checkpoint", _CHECKPOINT, (0, "fun"), counterpart="remat"
    ),
    "jax.custom_vjp": _spec("jax.custom_vjp", _CHECKPOINT, (0, "fun"), traces=False),
    "jax.custom_jvp": _spec("jax.custom_jvp", _CHECKPOINT, (0, "fun"), traces=False),
    "jax.lax.scan": _spec("jax.lax.scan", _LOOP, (0, "f"), operands=1),
    "jax.lax.fori_loop": _spec("jax.lax.fori_loop", _LOOP, (2, "body_fun"), operands=3),
    "jax.lax.while_loop": _spec(
        "jax.lax.while_loop", _LOOP, (0, "cond_fun"), (1, "body_fun"), operands=2
    ),
    "jax.lax.map": _spec("jax.lax.map", _MAP, (0, "f"), operands=1),
    "jax.lax.cond": _spec(
        "jax.lax.cond", _BRANCH, (1, "true_fun"), (2, "false_fun"), operands=3, counterpart="cond"
    ),
    "jax.lax.switch": _spec(
        "jax.lax.switch", _BRANCH, (1, "branches"), operands=2, counterpart="switch", sequence=True
    ),
}
GRAPH_OPTIONS = frozenset({"graph", "graph_updates"})  # nnx.jit's mode (flax 0.12.5+)
# jax.jit options that nnx.jit does not take.
NNX_JIT_UNSUPPORTED = frozenset({"compiler_options", "abstracted_axes"})
ARGNUM_OPTIONS = ("static_argnums", "donate_argnums")
# Options with one entry per positional argument: adding an argument would misalign them.
PER_ARGUMENT_OPTIONS = frozenset({"in_shardings", "in_axes"})

_ALIASES = {
    "flax.experimental.nnx": NNX,
    "flax.nnx.training.metrics": "flax.nnx.metrics",
    "flax.nnx.training.optimizer": NNX,
    "flax.nnx.optimizer": NNX,
    "flax.nnx.rnglib": NNX,
    "flax.nnx.variablelib": NNX,
    "flax.nnx.variables": NNX,
    "flax.nnx.module": NNX,
    "flax.nnx.transforms.compilation": NNX,
    "flax.nnx.transforms": NNX,
    "flax.nnx.graph": "flax.nnx.graph",
    "jax._src.api": "jax",
    "jax._src.lax.control_flow": "jax.lax",
    "jax.api": "jax",
}


def normalize(qualname: str) -> str:
    """Map the many import paths of one NNX/JAX object to one name (`flax.nnx.Linear`)."""
    for old, new in _ALIASES.items():
        if qualname == old or qualname.startswith(old + "."):
            qualname = new + qualname[len(old) :]
            break
    if qualname.startswith("flax.nnx.nn."):  # flax.nnx.nn.linear.Linear -> flax.nnx.Linear
        last = qualname.rsplit(".", 1)[1]
        if last in MODULE_CLASSES:
            return f"{NNX}.{last}"
    return qualname


def nnx_class_kind(qualname: str) -> ObjectKind | None:
    """The kind of a class flax.nnx exports, None for any other class."""
    if qualname.startswith(NNX + ".") and qualname.count(".") == 2:
        name = qualname.rsplit(".", 1)[1]
        if name in MUTATING_MODULES:
            return ObjectKind.MUTATING
        if name in MODULE_CLASSES:
            return ObjectKind.MODULE
        if name in STATEFUL_OBJECTS:
            return ObjectKind.STATEFUL
    if qualname.startswith(OBJECT_NAMESPACES):
        return ObjectKind.MODULE if ".bridge." in qualname else ObjectKind.STATEFUL
    return None


def is_module_base(qualname: str) -> bool:
    """Can a class deriving from ``qualname`` be an NNX Module?"""
    return nnx_class_kind(qualname) in (ObjectKind.MODULE, ObjectKind.MUTATING)


# What a file names when it applies a JAX transform: `jit`, a name only a transform has
# (`vmap`, `fori_loop`, ...), or one that other code uses too (`grad`, `checkpoint`, `scan`,
# `cond`, `switch`, `map`) after `jax.`/`lax.` or in an import from jax. A cheap text
# prefilter (most files of a model library use `lax` or say "gradient checkpointing" without
# applying one), checked by substring first: a regular expression over a whole file is slow.
_UNIQUE = """vmap pmap jacfwd jacrev value_and_grad shard_map custom_vjp custom_jvp fori_loop
    while_loop remat""".split()
_UNIQUE_WORD = re.compile(r"\b(?:" + "|".join(_UNIQUE) + r")\b")
_SHARED = "grad checkpoint scan cond switch map".split()
_QUALIFIED = tuple(f"{module}.{name}" for module in ("jax", "lax") for name in _SHARED)
_SHARED_WORD = re.compile(r"\b(?:" + "|".join(_SHARED) + r")\b")
# An import statement from jax, with its parenthesized names.
_JAX_IMPORT = re.compile(r"^[ \t]*(?:from|import)[ \t]+jax\b[^\n(]*(?:\([^)]*\)|[^\n]*)", re.M)


def mentions_transform(source: str) -> bool:
    """Can the text apply a JAX transform (jit, vmap, grad, lax.scan, ...)?"""
    if "jit" in source:
        return True
    if any(word in source for word in _UNIQUE) and _UNIQUE_WORD.search(source):
        return True
    if any(name in source for name in _QUALIFIED):
        return True
    if "jax" in source:
        return any(_SHARED_WORD.search(m.group(0)) for m in _JAX_IMPORT.finditer(source))
    return False


# NNX's tree mode, spelled: the setters, the config flags, the environment variables, and a
# transform's own option (``analysis.tree_mode`` tells where it is on).
TREE_MODE_TEXT = ("graph", "GRAPH")  # every spelling names one of them
_MODE_WORDS = ("set_graph_", "nnx_graph_", "NNX_GRAPH_")
_MODE_OPTION = re.compile(r"\bgraph(?:_updates)?\s*=\s*False\b")


def mentions_tree_mode(source: str) -> bool:
    """Can the text turn tree mode on: `graph=False`, `graph_updates=False`,
    `nnx.set_graph_mode`, ... (by substring first: most files name no graph at all)?"""
    if not any(word in source for word in TREE_MODE_TEXT):
        return False
    return any(word in source for word in _MODE_WORDS) or _MODE_OPTION.search(source) is not None


# Hijax mode and its older spelling, mutable arrays: the config flags, and the environment
# variables that set them (`os.environ["FLAX_MUTABLE_ARRAY"] = "true"` in Flax's examples).
HIJAX_FLAGS = frozenset({"flax_hijax_variable", "flax_mutable_array"})
HIJAX_ENV = frozenset(flag.upper() for flag in HIJAX_FLAGS)
HIJAX_WORDS = ("hijax", "HIJAX", "mutable_array", "MUTABLE_ARRAY")  # a cheap text prefilter
_TRUE = (True, "mutable", "true", "True", "1")


def hijax_call(qualname: str, args: list[tuple[str | None, object]]) -> bool:
    """Does a call of ``qualname`` with (keyword, literal value) args turn on hijax mode?"""
    if qualname == f"{NNX}.var_defaults":
        return any(k == "hijax" and v is True for k, v in args)
    if qualname in (f"{NNX}.use_hijax", f"{NNX}.use_mutable_arrays"):
        return bool(args) and args[0][1] in (True, "mutable")
    if qualname in ("flax.config.update", "flax.configurations.config.update"):
        return len(args) >= 2 and args[0][1] in HIJAX_FLAGS and args[1][1] is True
    if qualname == "os.environ.setdefault":
        return len(args) >= 2 and args[0][1] in HIJAX_ENV and args[1][1] in _TRUE
    return False


def hijax_environ(target: str | None, key: object, value: object) -> bool:
    """Does ``target[key] = value`` (``os.environ["FLAX_MUTABLE_ARRAY"] = "true"``) turn it on?"""
    return target == "os.environ" and key in HIJAX_ENV and value in _TRUE


# Methods every nnx.Module has: those that change its state, and those that only read it.
MODULE_METHODS_CHANGING = frozenset({"sow", "train", "eval", "set_attributes", "perturb"})
MODULE_METHODS_READING = frozenset(
    {"iter_modules", "iter_children", "__getattr__", "__init__", "__init_subclass__"}
)
# Calls of these never touch NNX state (functions of jax, numpy, optax, math, ...).
PURE_NAMESPACES = ("jax.", "numpy.", "optax.", "math.", "operator.", "functools.", "einops.")
# Functions flax.nnx exports that touch no NNX state (activations, from jax.nn).
PURE_FUNCTIONS = frozenset(
    f"{NNX}.{name}"
    for name in """celu elu gelu glu hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu
    log_sigmoid log_softmax logsumexp normalize one_hot relu relu6 selu sigmoid silu soft_sign
    softmax softplus standardize swish tanh""".split()
)
# Methods of stateful objects that change them; their other methods only read them.
STATEFUL_METHODS = {
    "Optimizer": frozenset({"update"}),
    "ModelAndOptimizer": frozenset({"update"}),
    "Metric": frozenset({"update", "reset"}),
    "MultiMetric": frozenset({"update", "reset"}),
    "Average": frozenset({"update", "reset"}),
    "Accuracy": frozenset({"update", "reset"}),
    "Welford": frozenset({"update", "reset"}),
}
VARIABLE_CLASSES = frozenset(
    """Variable Param BatchStat Cache Intermediate Perturbation LoRAParam MetricState""".split()
)


def builtin_effect(qualname: str, method: str) -> tuple[Effect, str] | None:
    """What calling ``method`` of a flax.nnx class (or a function of a pure namespace) does,
    with the reason; None for a class nnx-lint does not know."""
    kind = nnx_class_kind(qualname)
    name = qualname.rsplit(".", 1)[-1]
    short = f"nnx.{name}"
    if name in RNN_CELLS and kind is ObjectKind.MUTATING:
        if method == "initialize_carry":
            return Effect.CHANGES, f"`{short}.initialize_carry` draws from its Rngs"
        return Effect.PURE, f"`{short}.{method}` only reads its parameters"
    if kind is ObjectKind.MUTATING:
        what = {
            "Dropout": "draws a key from Rngs",
            "BatchNorm": "updates its batch statistics",
            "SpectralNorm": "updates its power-iteration state",
        }.get(name, "draws its initial carry from its Rngs")
        return Effect.CHANGES, f"`{short}` {what}"
    if kind is ObjectKind.MODULE:
        if method in MODULE_METHODS_CHANGING:
            return Effect.CHANGES, f"`{short}.{method}` changes its attributes"
        if method in MODULE_METHODS_READING:
            return Effect.PURE, f"`{short}.{method}` only reads it"
        if name in CONTAINERS or name == "MultiHeadAttention" or ".bridge." in qualname:
            return Effect.UNKNOWN, f"`{short}` depends on what it holds or how it is set up"
        return Effect.PURE, f"`{short}` only reads its parameters"
    if kind is ObjectKind.STATEFUL:
        if name in ("Rngs", "RngStream"):
            return Effect.CHANGES, f"`{short}` draws a key (its count advances)"
        if name in VARIABLE_CLASSES:
            return Effect.PURE, f"`{short}` is only read"
        changing = STATEFUL_METHODS.get(name)
        if changing is None and qualname.startswith("flax.nnx.metrics."):
            changing = frozenset({"update", "reset"})
        if changing is not None and method in changing:
            return Effect.CHANGES, f"`{short}.{method}` changes its state"
        return Effect.PURE, f"`{short}.{method}` only reads it"
    if qualname in PURE_FUNCTIONS or qualname.startswith(PURE_NAMESPACES):
        return Effect.PURE, f"`{qualname}` does not touch NNX state"
    return None


# flax modules whose calls change state unless a flag says otherwise: the flag, and the value
# under which nothing changes.
QUIET_WHEN = {
    f"{NNX}.Dropout": ("deterministic", True),
    f"{NNX}.BatchNorm": ("use_running_average", True),
}


def flagged_effect(
    qualname: str, at_call: dict[str, object], built: dict[str, object], not_literal: str
) -> tuple[Effect, str] | None:
    """What a call of a flax Dropout or BatchNorm does, by the flag given at the call, else
    at construction (``rate=0`` too, for Dropout); None for other classes."""
    quiet = QUIET_WHEN.get(qualname)
    if quiet is None:
        return None
    flag, value = quiet
    short = f"nnx.{qualname.rsplit('.', 1)[-1]}"
    for where, given in (("called", at_call), ("built", built)):
        if flag in given:
            if given[flag] == not_literal:
                return Effect.UNKNOWN, f"`{short}` is {where} with `{flag}` set at run time"
            if given[flag] == value:
                return Effect.PURE, f"`{short}` is {where} with `{flag}={value}`"
            return builtin_effect(qualname, "__call__")
    if qualname == f"{NNX}.Dropout":
        rate = built.get("rate", built.get(FIRST_ARGUMENT))
        if rate == 0:
            return Effect.PURE, f"`{short}` is built with `rate=0`"
        if rate == not_literal:
            return (
                Effect.UNKNOWN,
                f"`{short}` is built with a rate set at run time (0 draws nothing)",
            )
        if "rngs" in at_call:
            return Effect.UNKNOWN, f"`{short}` draws from the Rngs passed to it"
    return builtin_effect(qualname, "__call__")


FIRST_ARGUMENT = "<first positional argument>"
# flax.nnx functions that only read an object's graph and state.
GRAPH_READERS = frozenset(f"{NNX}.{name}" for name in "state split graphdef variables".split())
MODE_SWITCHES = frozenset({"eval", "train", "set_attributes"})
# Modules whose state change depends on their mode (deterministic, use_running_average), which
# .eval(), .train() and set_attributes switch on the object or any module holding it.
MODE_DEPENDENT = frozenset(QUIET_WHEN)
