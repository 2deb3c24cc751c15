"""TensorFlow's export path (``--serve export``): the model written as a SavedModel whose serving
signature is the eval ``tf.function`` (XLA as the ``xla`` setting says: the function keeps its
``jit_compile``), loaded back with ``tf.saved_model.load`` and called through that signature, as
TensorFlow Serving calls it."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

LABEL = "SavedModel"
DESCRIPTION = ("a SavedModel whose serving_default signature is the eval tf.function (jit_compile per the xla "
               "setting), loaded with tf.saved_model.load and called through that signature")
SIGNATURE, OUTPUT = "serving_default", "logits"


def export(backend, model, x, folder: Path):
    net, device = model.model, backend.tf_device

    @tf.function(input_signature=[tf.TensorSpec(x.shape, x.dtype, name="x")], jit_compile=backend.settings["xla"])
    def serve(x):
        with tf.device(device):
            return {OUTPUT: tf.cast(net(x, training=False), backend.dtype)}

    holder = tf.Module()
    holder.net = net  # tracks the variables, so the SavedModel holds the weights
    tf.saved_model.save(holder, str(folder), signatures={SIGNATURE: serve})
    loaded = tf.saved_model.load(str(folder))  # held by the step: its signature reads the loaded variables
    signature = loaded.signatures[SIGNATURE]

    def step(x, held=loaded):
        return signature(x=x)[OUTPUT]

    return step
