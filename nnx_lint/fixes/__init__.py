"""The fix machinery the rules share: rewrites (a closure's captures become parameters, call
sites pass them, the ``functools.partial(nnx.jit(type(m).__call__), m)`` rewrite, the
``jax.jit`` -> ``nnx.jit`` swap), imports (spelling, adding, sorted placement, cleanup after
fixing). A rewrite that cannot be made raises ``NoFix`` with the reason; the rule reports it
beside the message, never in it."""
