"""dlbench's optimiser semantics (see :mod:`dlbench.optim`) as TensorFlow variable updates.

Keras optimisers do not reproduce PyTorch's maths: Adagrad and RMSprop put eps inside the square
root and Adam adds eps to the uncorrected root. So the updates are written here: sgd, momentum and
adagrad with TF's fused training ops (whose formulas are exactly torch's), rmsprop and adam with
element-wise ops in torch's order of operations. Both run under XLA.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from dlbench.optim import OptimizerSpec

raw = tf.raw_ops


class Optimizer:
    """Holds the slot variables for ``params``; ``apply(grads)`` updates them (inside a tf.function)."""

    def __init__(self, spec: OptimizerSpec, params: Sequence[tf.Variable]):
        self.spec, self.params = spec, list(params)
        slots = {"sgd": 0, "momentum": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}[spec.name]
        with tf.init_scope():
            self.slots = [[tf.Variable(tf.zeros_like(p), trainable=False) for p in self.params] for _ in range(slots)]
            self.step = tf.Variable(0.0, trainable=False, dtype=tf.float64) if spec.name == "adam" else None

    def apply(self, grads: Sequence[tf.Tensor]) -> None:
        s, update = self.spec, getattr(self, f"_{self.spec.name}")
        t = None if self.step is None else self.step.assign_add(1.0)
        for i, (p, g) in enumerate(zip(self.params, grads)):
            update(p, tf.cast(g, p.dtype), [slot[i] for slot in self.slots], t, s)

    @staticmethod
    def _sgd(p, g, slots, t, s):
        raw.ResourceApplyGradientDescent(var=p.handle, alpha=tf.constant(s.lr, p.dtype), delta=g)

    @staticmethod
    def _momentum(p, g, slots, t, s):
        # v = m * v + g; p -= lr * v  (torch.optim.SGD without dampening)
        raw.ResourceApplyMomentum(var=p.handle, accum=slots[0].handle, lr=tf.constant(s.lr, p.dtype), grad=g,
                                  momentum=tf.constant(s.momentum, p.dtype))

    @staticmethod
    def _adagrad(p, g, slots, t, s):
        # s += g^2; p -= lr * g / (sqrt(s) + eps)
        raw.ResourceApplyAdagradV2(var=p.handle, accum=slots[0].handle, lr=tf.constant(s.lr, p.dtype),
                                   epsilon=tf.constant(s.eps, p.dtype), grad=g)

    @staticmethod
    def _rmsprop(p, g, slots, t, s):
        sq = slots[0]
        sq.assign(sq * s.alpha + g * g * (1.0 - s.alpha))
        p.assign_sub(s.lr * (g / (tf.sqrt(sq) + s.eps)))

    @staticmethod
    def _adam(p, g, slots, t, s):
        m, v = slots
        m.assign(m + (g - m) * (1.0 - s.beta1))  # torch: exp_avg.lerp_(grad, 1 - beta1)
        v.assign(v * s.beta2 + g * g * (1.0 - s.beta2))
        # bias corrections in float64, as torch computes them with Python floats
        step_size = tf.cast(s.lr / (1.0 - tf.pow(tf.constant(s.beta1, tf.float64), t)), p.dtype)
        bc2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(tf.constant(s.beta2, tf.float64), t)), p.dtype)
        denom = tf.sqrt(v) / bc2_sqrt + s.eps
        p.assign_sub(step_size * (m / denom))


def dense(grads: Sequence) -> list[tf.Tensor]:
    """The gradients as dense tensors. An embedding lookup's is ``IndexedSlices`` (with a tied head's
    dense one added, slices of V + N·T rows); dlbench's update rules are dense, as torch's are for
    an ``nn.Embedding``: every row's optimiser state moves at every step."""
    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


def make_optimizer(spec: OptimizerSpec, params: Sequence[tf.Variable]) -> Optimizer:
    return Optimizer(spec, params)


class LossScaleOptimizer:
    """Dynamic loss scaling around an :class:`Optimizer`, for float16 compute (Keras's scheme):
    steps with non-finite gradients are skipped and halve the scale; 2000 good steps double it."""

    def __init__(self, inner: Optimizer, initial_scale: float = 2.0**15, growth_interval: int = 2000):
        self.inner, self.growth_interval = inner, growth_interval
        with tf.init_scope():
            self.scale = tf.Variable(initial_scale, trainable=False, dtype=tf.float32)
            self.good_steps = tf.Variable(0, trainable=False, dtype=tf.int64)

    def scale_loss(self, loss: tf.Tensor) -> tf.Tensor:
        return loss * self.scale

    def apply(self, scaled_grads: Sequence[tf.Tensor]) -> None:
        grads = [g / self.scale for g in scaled_grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

        def good():
            self.inner.apply(grads)
            grow = self.good_steps + 1 >= self.growth_interval
            self.scale.assign(tf.where(grow, self.scale * 2.0, self.scale))
            self.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), self.good_steps + 1))
            return tf.constant(True)

        def bad():
            self.scale.assign(tf.maximum(self.scale / 2.0, 1.0))
            self.good_steps.assign(0)
            return tf.constant(False)

        tf.cond(finite, good, bad)
