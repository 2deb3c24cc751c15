"""Registers the built-in datasets (a plugin like any other)."""

from functools import partial

from dlbench.data import builtin, cifar, imagefolder, mnist, text
from dlbench.hookspecs import hookimpl
from dlbench.registry import DatasetInfo


@hookimpl
def register_datasets(register):
    register(DatasetInfo("synthetic", "seeded random data in the model's shape (speed only, no accuracy)", builtin.synthetic,
                         inputs="any"))
    register(DatasetInfo("digits", "scikit-learn's bundled real 8x8 digits, no download (default)", builtin.digits, (8, 8, 1), 10))
    register(DatasetInfo("mnist", "MNIST handwritten digits, IDX files", partial(mnist.load, mnist.MNIST), (28, 28, 1), 10))
    register(DatasetInfo("cifar10", "CIFAR-10, official binary files", partial(cifar.load, cifar.CIFAR10), (32, 32, 3), 10))
    register(DatasetInfo("cifar100", "CIFAR-100 (fine labels), official binary files", partial(cifar.load, cifar.CIFAR100), (32, 32, 3), 100))
    register(DatasetInfo("imagefolder", "ImageNet-style class folders of JPEG/PNG (--data-dir)", imagefolder.load))
    register(DatasetInfo("fashion-mnist", "Zalando's Fashion-MNIST, IDX files", partial(mnist.load, mnist.FASHION_MNIST), (28, 28, 1), 10))
    register(DatasetInfo("shakespeare", "Shakespeare's plays and poems as characters, shipped (5.1 M characters, 84 "
                         "distinct)", text.shakespeare, inputs="tokens"))
    register(DatasetInfo("text", "your own UTF-8 text as characters (--data-dir FILE or a folder of .txt)", text.text,
                         inputs="tokens"))
