"""TensorFlow data parallelism: ``tf.distribute.MirroredStrategy``, one process driving N devices
(on the CPU, N logical CPU devices split from the physical one). Variables are mirrored, each
replica computes its slice's gradients, the strategy all-reduces them and updates every copy.

Across machines, ``MultiWorkerMirroredStrategy`` with ``TF_CONFIG`` is TensorFlow's engine; dlbench
does not start it yet (see docs/clusters.md#across-machines).
"""

from __future__ import annotations

from typing import Callable

ENGINE = "tf.distribute.MirroredStrategy over {n} {kind} devices ({ops})"


def launch(job_ref: str, payload: dict, replicas: int, progress: Callable[..., None]) -> dict:
    from dlbench.execution.replicas import load

    return load(job_ref)(payload, progress)  # the backend splits the devices when replicate() is called
