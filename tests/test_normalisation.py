"""Input normalisation as the README states it: MNIST, Fashion-MNIST, CIFAR and image folders are
scaled to [0, 1] and standardised with their published per-channel mean and standard deviation;
the default ``digits`` is only scaled to [0, 1]; ``synthetic`` is drawn standard-normal. The record
lists the normalisation among its transforms exactly when one is applied."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dlbench import registry
from dlbench.cli import cli
from dlbench.data.dataset import DatasetRequest
from dlbench.data.transforms import Adapter


def adapter(dataset, shape=None) -> Adapter:
    return Adapter(dataset.input_shape, shape or dataset.input_shape, dataset.scale, dataset.mean, dataset.std)


def test_digits_are_scaled_to_the_unit_interval_only():
    digits = registry.get_dataset("digits").load(DatasetRequest())
    x = adapter(digits)(digits.train.x)
    assert x.min() == 0.0 and x.max() == 1.0  # 0..16 in the source, divided by 16
    assert not any(step.startswith("normalise") for step in adapter(digits).steps)


def test_synthetic_data_is_standard_normal_and_not_normalised_again():
    data = registry.get_dataset("synthetic").load(DatasetRequest(model_input_shape=(28, 28, 1)))
    assert abs(float(data.train.x.mean())) < 0.01 and abs(float(data.train.x.std()) - 1) < 0.01
    assert adapter(data).steps == []


def test_mnist_is_standardised_with_its_published_statistics(mnist_dir):
    mnist = registry.get_dataset("mnist").load(DatasetRequest(data_dir=mnist_dir))
    assert (mnist.scale, mnist.mean, mnist.std) == (1 / 255, (0.1307,), (0.3081,))
    x = mnist.train.x[:4]
    out = adapter(mnist)(x)
    np.testing.assert_allclose(out, (x / 255 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)
    assert out.max() == pytest.approx((1 - 0.1307) / 0.3081, rel=1e-5)  # a white pixel
    assert adapter(mnist).steps == ["normalise mean [0.1307] std [0.3081]"]


def test_image_folders_use_the_imagenet_statistics_per_channel(tmp_path):
    for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.new("RGB", (8, 8), colour).save(tmp_path / label / f"{i}.png")
    data = registry.get_dataset("imagefolder").load(DatasetRequest(model_input_shape=(8, 8, 3), data_dir=tmp_path))
    x = adapter(data)(np.asarray(data.train.x[:1]))
    mean, std = np.array((0.485, 0.456, 0.406)), np.array((0.229, 0.224, 0.225))
    channel_values = x[0, 0, 0]
    assert any(np.allclose(channel_values, (np.array(c) - mean) / std, rtol=1e-4)
               for c in ((1, 0, 0), (0, 0, 1)))


def test_the_record_names_the_normalisation_applied(test_plugins, tmp_path, mnist_dir):
    out = CliRunner().invoke(cli, ["run", "-b", "numpy", "-m", "mlp", "-d", "mnist", "--data-dir", str(mnist_dir),
                                   "--steps", "2", "--batch-size", "16", "--timeout", "120",
                                   "--output", str(tmp_path), "--json", "-q"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["dataset"]["transforms"] == ["normalise mean [0.1307] std [0.3081]"]
