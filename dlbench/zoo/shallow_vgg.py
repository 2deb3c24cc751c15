"""ShallowVGGNet of the course notes: two CONV-BN-CONV-BN-POOL-DROPOUT blocks (32 and 64 filters),
FC 512 + BN + dropout, softmax classifier. 1,679,082 parameters at 28x28x1 (1,408 of them
batch-norm statistics), as Keras counts them."""

from dlbench.graph import Activation, BatchNorm, Conv2d, Dense, Dropout, Flatten, Graph, MaxPool2d, sequential

INPUT_SHAPE = (28, 28, 1)


def _block(filters: int) -> list:
    relu = Activation("relu")
    return [
        Conv2d(filters, 3, padding=1), relu, BatchNorm(momentum=0.99, eps=1e-3),
        Conv2d(filters, 3, padding=1), relu, BatchNorm(momentum=0.99, eps=1e-3),
        MaxPool2d(2), Dropout(0.25),
    ]


def build(input_shape, num_classes: int) -> Graph:
    return sequential(
        "shallow_vgg",
        input_shape,
        [*_block(32), *_block(64), Flatten(), Dense(512, kernel_init="he_normal"), Activation("relu"),
         BatchNorm(momentum=0.99, eps=1e-3), Dropout(0.5), Dense(num_classes)],
    )
