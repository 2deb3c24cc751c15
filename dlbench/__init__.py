"""dlbench: the same models and training loop on PyTorch, TensorFlow and JAX, measured fairly."""

from dlbench.hookspecs import hookimpl

__all__ = ["hookimpl"]
