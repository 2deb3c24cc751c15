"""Vision Transformers (Dosovitskiy et al., 2020): the image cut into patches by a strided
convolution, a learned [class] token prepended and positions added, pre-norm encoder blocks of
self-attention and a GELU MLP around residuals, a final LayerNorm, and a classifier on the class
token's features.

``vit_b16``: ViT-B/16 as torchvision builds it: 16x16 patches of a 224x224x3 image (196 tokens and
the class token), 12 layers of width 768 with 12 heads, MLP 3072, LayerNorm eps 1e-6, exact GELU;
86,567,656 parameters and 17.56 G multiply-adds.

``vit_tiny``: the same architecture small enough to train on 28x28 Fashion-MNIST on a 2-core CPU in
minutes: 4x4 patches (49 tokens, the finest grid whose attention stays cheap at 28x28), width 64 with
4 heads of 16, MLP 128, 4 layers, about 0.14 M parameters and 7 M multiply-adds per image, in the
range of LeNet-5's cost on this CPU times a few.
"""

from __future__ import annotations

from dlbench.graph import (
    Activation, Add, ClassToken, Conv2d, Dense, Graph, GraphBuilder, LayerNorm, MultiHeadAttention,
    PositionEmbedding, Reshape, TokenPool,
)

EPS = 1e-6  # torchvision's LayerNorm epsilon for ViT


def patch_embedding(b: GraphBuilder, x: str, image, patch: int, width: int) -> str:
    """A ``patch`` x ``patch`` convolution of stride ``patch``, its grid read row by row as tokens."""
    h, w, _ = image
    x = b(Conv2d(width, patch, stride=patch, kernel_init="lecun_normal"), x, name="patch_embed")
    return b(Reshape(((h // patch) * (w // patch), width)), x, name="patch_tokens")


def _block(b: GraphBuilder, x: str, heads: int, mlp: int, width: int) -> str:
    y = b.chain(x, LayerNorm(EPS), MultiHeadAttention(heads))
    x = b(Add(), x, y)
    y = b.chain(x, LayerNorm(EPS), Dense(mlp), Activation("gelu"), Dense(width))
    return b(Add(), x, y)


def build_vit(name: str, input_shape, num_classes: int, *, patch: int, width: int, depth: int, heads: int,
              mlp: int) -> Graph:
    b = GraphBuilder(name, input_shape)
    h, w, _ = input_shape
    tokens = (h // patch) * (w // patch) + 1
    x = patch_embedding(b, b.input, input_shape, patch, width)
    x = b.chain(x, ClassToken(), PositionEmbedding(tokens))
    for _ in range(depth):
        x = _block(b, x, heads, mlp, width)
    b.chain(x, LayerNorm(EPS), TokenPool("class"), Dense(num_classes))
    return b.build(num_classes)


VIT_B16 = dict(patch=16, width=768, depth=12, heads=12, mlp=3072)
VIT_TINY = dict(patch=4, width=64, depth=4, heads=4, mlp=128)


def vit_b16(input_shape, num_classes: int) -> Graph:
    return build_vit("vit_b16", input_shape, num_classes, **VIT_B16)


def vit_tiny(input_shape, num_classes: int) -> Graph:
    return build_vit("vit_tiny", input_shape, num_classes, **VIT_TINY)
