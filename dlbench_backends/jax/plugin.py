"""Registers the JAX backend without importing jax."""

from dlbench.hookspecs import hookimpl
from dlbench.registry import BackendInfo


@hookimpl
def register_backends(register):
    register(
        BackendInfo(
            name="jax",
            summary="JAX with Flax modules and optax, one jitted train step with donated state",
            color="#5e97f6",
            distributed="dlbench_backends.jax.distributed",
            factory="dlbench_backends.jax.backend:JaxBackend",
            requires=("jax", "flax", "optax"),
            install_hint="pip install 'dlbench[jax]'",
        )
    )
