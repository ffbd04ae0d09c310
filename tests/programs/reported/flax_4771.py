# google/flax#4771, as reported (trimmed to a program); the last statement fails.
import jax
import jax.numpy as jnp
from flax import nnx


class Block(nnx.Module):
    def __init__(self, input_dim, features, rngs):
        self.linear = nnx.Linear(input_dim, features, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return jax.nn.relu(self.dropout(self.linear(x)))


class MLP(nnx.Module):
    def __init__(self, features, num_layers, rngs):
        @nnx.split_rngs(splits=num_layers)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create_block(rngs: nnx.Rngs):
            return Block(features, features, rngs=rngs)

        self.blocks = create_block(rngs)
        self.num_layers = num_layers

    def __call__(self, x):
        @nnx.split_rngs(splits=self.num_layers)
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def forward(x, model):
            return model(x)

        return forward(x, self.blocks)


class Model(nnx.Module):
    def __init__(self):
        self.a = nnx.Variable(jnp.array([1.0]))
        self.b = nnx.Param(jnp.array([2.0]))
        self.mlp = MLP(32, num_layers=3, rngs=nnx.Rngs(0))
        self.dropout = nnx.Dropout(0.5, rngs=nnx.Rngs(1))

    def __call__(self, t):
        t = self.mlp(t)
        t = self.dropout(t)
        return self.a * jnp.cos(t) + self.b * jnp.sin(t)


model = Model()
model.eval()
t = jnp.linspace(0, 1, 32)
u_t = jax.grad(lambda _t: jnp.sum(model(_t)))(t)
