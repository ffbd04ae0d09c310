"""A generated tree of realistic Flax NNX code, for the benchmark's linear-scaling corpus.

``generate(root, units)`` writes ``units`` packages of five files each (about 430 lines a
package): Module subclasses in ``models.py``, used from ``train.py`` of the same package (a
correct ``nnx.jit`` train step, an eval step, plus some NNX001 and NNX003 findings), jitted
pure functions in ``ops.py``, and plain Python in ``data.py``. Deterministic: the same
``units`` always gives the same text. Returns the number of files, of lines, and the findings
seeded (code -> count).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

INIT = '''"""Package {i}: models and training for experiment {i}."""

from .models import Block{i}, Classifier{i}, Encoder{i}

__all__ = ["Block{i}", "Classifier{i}", "Encoder{i}"]
'''

MODELS = '''"""Modules of experiment {i}."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx


class Block{i}(nnx.Module):
    """A residual MLP block."""

    def __init__(self, dim: int, hidden: int, *, rngs: nnx.Rngs):
        self.up = nnx.Linear(dim, hidden, rngs=rngs)
        self.down = nnx.Linear(hidden, dim, rngs=rngs)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        h = nnx.gelu(self.up(self.norm(x)))
        return x + self.down(h)


class Encoder{i}(nnx.Module):
    """A stack of blocks with dropout and batch statistics."""

    def __init__(self, dim: int, depth: int = {depth}, *, rngs: nnx.Rngs):
        self.embed = nnx.Linear(dim, dim, rngs=rngs)
        self.blocks = nnx.List([Block{i}(dim, 4 * dim, rngs=rngs) for _ in range(depth)])
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
        self.batch_norm = nnx.BatchNorm(dim, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = self.embed(x)
        for block in self.blocks:
            x = self.dropout(block(x))
        return self.batch_norm(x)


class Classifier{i}(Encoder{i}):
    """The encoder with a classification head."""

    def __init__(self, dim: int, classes: int, *, rngs: nnx.Rngs):
        super().__init__(dim, rngs=rngs)
        self.head = nnx.Linear(dim, classes, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return self.head(super().__call__(x).mean(axis=1))


class StepCounter{i}(nnx.Module):
    """Counts the steps taken, as a Variable."""

    def __init__(self):
        self.count = nnx.Variable(jnp.zeros((), jnp.int32))

    def __call__(self) -> jnp.ndarray:
        self.count.value += 1
        return self.count.value


class Average{i}(nnx.Metric):
    """A running mean."""

    def __init__(self):
        self.total = nnx.metrics.MetricState(jnp.array(0.0))
        self.n = nnx.metrics.MetricState(jnp.array(0))

    def update(self, *, values: jnp.ndarray, **_) -> None:
        self.total.value += values.sum()
        self.n.value += values.size

    def reset(self) -> None:
        self.total.value = jnp.array(0.0)
        self.n.value = jnp.array(0)

    def compute(self) -> jnp.ndarray:
        return self.total.value / jnp.maximum(self.n.value, 1)
'''

TRAIN = '''"""Training loop of experiment {i}."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from . import ops
from .data import Batch, batches
from .models import Classifier{i}, StepCounter{i}


def loss_fn(model: Classifier{i}, batch: Batch) -> jnp.ndarray:
    logits = model(batch.inputs)
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch.labels).mean()


@nnx.jit
def train_step(model: Classifier{i}, optimizer: nnx.Optimizer, batch: Batch) -> jnp.ndarray:
    loss, grads = nnx.value_and_grad(loss_fn)(model, batch)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def eval_step(model: Classifier{i}, batch: Batch) -> jnp.ndarray:
    logits = model(batch.inputs)
    return ops.accuracy(logits, batch.labels)


@functools.partial(jax.jit, static_argnames=("scale",))
def schedule(step: jnp.ndarray, scale: float = {scale}) -> jnp.ndarray:
    return scale * jnp.minimum(1.0, step / 1000.0)


def make_model(seed: int = {i}) -> tuple[Classifier{i}, nnx.Optimizer]:
    model = Classifier{i}(32, 10, rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.adamw({lr}), wrt=nnx.Param)
    return model, optimizer
{extra}

def fit(epochs: int = 3, batch_size: int = 64) -> list[float]:
    model, optimizer = make_model()
    counter = StepCounter{i}()
    history = []
    for epoch in range(epochs):
        model.train()
        losses = [float(train_step(model, optimizer, batch)) for batch in batches(batch_size)]
        counter()
        model.eval()
        accuracy = sum(float(eval_step(model, b)) for b in batches(batch_size, train=False))
        history.append(sum(losses) / max(len(losses), 1))
        print(f"epoch {{epoch}}: loss {{history[-1]:.4f}}, accuracy {{accuracy:.3f}}")
    return history
'''

NNX001 = """

def predictor(seed: int = 0):
    model = Classifier{i}(32, 10, rngs=nnx.Rngs(seed))
    model.eval()
    return jax.jit(model)
"""

NNX003 = """

@jax.jit
def legacy_step(model: Classifier{i}, optimizer: nnx.Optimizer, batch: Batch) -> jnp.ndarray:
    loss, grads = nnx.value_and_grad(loss_fn)(model, batch)
    optimizer.update(model, grads)
    return loss
"""

OPS = '''"""Pure array functions of experiment {i}: jitted, no NNX objects."""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.jit
def normalize(x: jnp.ndarray, eps: float = 1e-6) -> jnp.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return (x - mean) / (std + eps)


@jax.jit
def accuracy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    return (logits.argmax(axis=-1) == labels).mean()


def smooth_labels(labels: jnp.ndarray, classes: int, amount: float = {smooth}) -> jnp.ndarray:
    one_hot = jax.nn.one_hot(labels, classes)
    return one_hot * (1.0 - amount) + amount / classes


def clip_by_norm(tree, max_norm: float = 1.0):
    norm = jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree)))
    factor = jnp.minimum(1.0, max_norm / (norm + 1e-12))
    return jax.tree.map(lambda leaf: leaf * factor, tree)


cosine = jax.jit(lambda a, b: (a * b).sum() / jnp.sqrt((a * a).sum() * (b * b).sum()))
'''

DATA = '''"""Data loading of experiment {i}: plain Python."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
from collections.abc import Iterator

import numpy as np

SEED = {i}
FIELDS = ("id", "label", "weight", "text")


@dataclasses.dataclass(frozen=True)
class Batch:
    inputs: np.ndarray
    labels: np.ndarray


@dataclasses.dataclass
class Record:
    id: int
    label: int
    weight: float
    text: str

    @classmethod
    def parse(cls, row: dict[str, str]) -> Record:
        return cls(int(row["id"]), int(row["label"]), float(row["weight"]), row["text"].strip())

    def tokens(self) -> list[str]:
        return [t.lower() for t in self.text.split() if t.isalnum()]


def read_records(text: str) -> list[Record]:
    reader = csv.DictReader(io.StringIO(text), fieldnames=FIELDS)
    records = []
    for row in reader:
        try:
            records.append(Record.parse(row))
        except (KeyError, ValueError):
            continue
    return records


def vocabulary(records: list[Record], limit: int = {vocab}) -> dict[str, int]:
    counts: dict[str, int] = {{}}
    for record in records:
        for token in record.tokens():
            counts[token] = counts.get(token, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {{token: index for index, (token, _) in enumerate(ranked[:limit])}}


def encode(record: Record, vocab: dict[str, int], length: int = 32) -> list[int]:
    ids = [vocab.get(token, len(vocab)) for token in record.tokens()][:length]
    return ids + [0] * (length - len(ids))


def synthetic_records(n: int, seed: int = SEED) -> list[Record]:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    return [
        Record(k, rng.randrange(10), rng.random(), " ".join(rng.choices(words, k=12)))
        for k in range(n)
    ]


def batches(batch_size: int, train: bool = True, n: int = 512) -> Iterator[Batch]:
    rng = np.random.default_rng(SEED if train else SEED + 1)
    order = rng.permutation(n) if train else np.arange(n)
    inputs = rng.normal(size=(n, 8, 32)).astype(np.float32)
    labels = rng.integers(0, 10, size=n)
    for start in range(0, n - batch_size + 1, batch_size):
        index = order[start : start + batch_size]
        yield Batch(inputs[index], labels[index])


def summarize(records: list[Record]) -> str:
    by_label: dict[int, list[float]] = {{}}
    for record in records:
        by_label.setdefault(record.label, []).append(record.weight)
    lines = [f"{{len(records)}} records, {{len(by_label)}} labels"]
    for label in sorted(by_label):
        weights = by_label[label]
        lines.append(f"  {{label}}: {{len(weights)}} records, mean weight {{np.mean(weights):.3f}}")
    return "\\n".join(lines)
'''


def generate(root: Path, units: int) -> tuple[int, int, Counter[str]]:
    """Write ``units`` packages under ``root`` (which must not exist yet)."""
    seeded: Counter[str] = Counter()
    files = lines = 0
    for i in range(units):
        extra = ""
        if i % 4 == 1:  # a quarter of the packages jit a module (NNX001)
            extra += NNX001
            seeded["NNX001"] += 1
        if i % 5 == 2:  # a fifth have a jax.jit step whose updates are lost (NNX003)
            extra += NNX003
            seeded["NNX003"] += 1
        values = {
            "i": i,
            "depth": 2 + i % 3,
            "scale": 0.1 * (1 + i % 7),
            "lr": f"{1e-3 * (1 + i % 5):.0e}",
            "smooth": 0.05 * (1 + i % 3),
            "vocab": 1000 * (1 + i % 4),
            "extra": extra.format(i=i),
        }
        package = root / f"experiment_{i:04d}"
        package.mkdir(parents=True)
        for name, template in (
            ("__init__", INIT),
            ("models", MODELS),
            ("train", TRAIN),
            ("ops", OPS),
            ("data", DATA),
        ):
            text = template.format(**values)
            (package / f"{name}.py").write_text(text, encoding="utf-8")
            files += 1
            lines += text.count("\n")
    return files, lines, seeded
