def pytest_configure(config):
    config.addinivalue_line(
        "markers", "execution: runs real jax/flax programs before and after `nnx-lint --fix`"
    )
