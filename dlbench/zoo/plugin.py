"""Registers the built-in model declarations (a plugin like any other).

A bare ``dlbench run -m NAME`` of a small model trains it on the real digits; of an ImageNet-sized
one (1000 classes at 224x224) it is a short speed run on synthetic data, since a CPU would take
hours over real data for an accuracy that says nothing about the model. What the user gives
overrides these settings.
"""

from dlbench.hookspecs import hookimpl
from dlbench.registry import ModelInfo, Published
from dlbench.zoo import alexnet, alvinn, gpt, lenet5, lstm, mlp, mobilenet_v2, perceptron, resnet50, shallow_vgg, vgg16, vit


def speed_run(batch_size: int, steps: int = 10) -> dict:
    """Synthetic data, ``steps`` timed steps after 2 warm-up: a quick look that finishes in minutes on
    a laptop CPU (too short to repay tuning, which it then skips: :mod:`dlbench.tuning.budget`).
    ``batch_size`` is sized for a 2-core CPU."""
    return {"dataset": "synthetic", "steps": steps, "warmup": 2, "batch_size": batch_size}


@hookimpl
def register_models(register):
    register(ModelInfo("perceptron", "Rosenblatt's single-layer perceptron (1957)", perceptron.build,
                       published=Published((28, 28, 1), 10, (7_850, 0), 7_840, "784 inputs x 10 units + bias")))
    register(ModelInfo("mlp", "multilayer perceptron, Dense(512, relu) -> Dense(classes)", mlp.build,
                       published=Published((28, 28, 1), 10, (407_050, 0), 406_528, "Keras's MNIST MLP")))
    register(ModelInfo("lenet5", "LeNet-5 (1989-98), tanh and average pooling", lenet5.build, lenet5.INPUT_SHAPE,
                       published=Published((28, 28, 1), 10, (61_706, 0), 416_520, "LeCun et al. 1998, padded to 32x32")))
    register(ModelInfo("alvinn", "ALVINN road follower (1989): 30x32 retina, 4 hidden, 30 outputs", alvinn.build,
                       alvinn.INPUT_SHAPE, alvinn.NUM_CLASSES,
                       published=Published((30, 32, 1), 30, (3_994, 0), 3_960, "Pomerleau 1989")))
    register(ModelInfo("alexnet", "AlexNet (2012), torchvision layout", alexnet.build, alexnet.INPUT_SHAPE, 1000,
                       default_run=speed_run(8),
                       published=Published((224, 224, 3), 1000, (61_100_840, 0), 714_188_480, "torchvision")))
    register(ModelInfo("shallow_vgg", "ShallowVGGNet: 2 conv-BN blocks (32, 64), FC 512", shallow_vgg.build,
                       shallow_vgg.INPUT_SHAPE,
                       published=Published((28, 28, 1), 10, (1_677_674, 1_408), 19_899_904,
                                           "Keras: 1,679,082 parameters in all")))
    register(ModelInfo("vgg16", "VGG16 (2014), torchvision layout", vgg16.build, vgg16.INPUT_SHAPE, 1000,
                       default_run=speed_run(1, steps=5),
                       published=Published((224, 224, 3), 1000, (138_357_544, 0), 15_470_264_320,
                                           "torchvision: 15.47 GMACs")))
    register(ModelInfo("resnet50", "ResNet-50 v1.5 (2015): residual bottlenecks, batch norm", resnet50.build,
                       resnet50.INPUT_SHAPE, 1000, default_run=speed_run(2),
                       published=Published((224, 224, 3), 1000, (25_557_032, 53_120), 4_089_184_256,
                                           "torchvision: 4.09 GMACs")))
    register(ModelInfo("mobilenet_v2", "MobileNetV2 (2018): inverted residuals, depthwise convs", mobilenet_v2.build,
                       mobilenet_v2.INPUT_SHAPE, 1000, default_run=speed_run(8),
                       published=Published((224, 224, 3), 1000, (3_504_872, 34_112), 300_774_272,
                                           "torchvision: 0.30 GMACs")))
    register(ModelInfo("lstm", "LSTM (1997) reading an image row by row (sequential MNIST)", lstm.build,
                       lstm.INPUT_SHAPE,
                       published=Published((28, 28, 1), 10, (81_674, 0), 28 * 4 * 128 * (28 + 128) + 128 * 10,
                                           "4U(F+U) per step over 28 steps, then the classifier")))
    register(ModelInfo("vit_b16", "ViT-B/16 (2020): 16x16 patches, 12 layers of width 768, torchvision layout", vit.vit_b16,
                       (224, 224, 3), 1000, default_run=speed_run(2, steps=5),
                       published=Published((224, 224, 3), 1000, (86_567_656, 0), 17_563_828_224,
                                           "torchvision: 17.56 G multiply-adds")))
    register(ModelInfo("vit_tiny", "a ViT for 28x28: 4x4 patches, 4 layers of width 64", vit.vit_tiny, (28, 28, 1)))
    register(ModelInfo("gpt2", "GPT-2 small (2019): 12 layers of width 768, context 1024, tied embeddings", gpt.gpt2,
                       (gpt.GPT2["context"],), gpt.GPT2_VOCAB, inputs="tokens",
                       default_run={"dataset": "synthetic", "steps": 3, "warmup": 1, "batch_size": 1},
                       published=Published((1024,), gpt.GPT2_VOCAB, (124_439_808, 0), 145_824_153_600,
                                           "parameters: Hugging Face's GPT2LMHeadModel; MACs: every matmul of a "
                                           "1024-token sequence, attention's and the tied output head's included")))
    register(ModelInfo("gpt_char", "a character-level GPT (nanoGPT's CPU size): 4 layers of width 128, context 64",
                       gpt.gpt_char, (gpt.GPT_CHAR["context"],), 84, inputs="tokens",
                       default_run={"dataset": "shakespeare", "epochs": 1}))
