"""dlbench's PyTorch train step against a minimal hand-written PyTorch loop, same model and batch.

Run: pytest benchmarks/test_torch_step.py --benchmark-only
"""

from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from benchmarks.conftest import OPTIMIZERS, interleave, tuned  # noqa: E402
from dlbench import registry  # noqa: E402
from dlbench.graph import init_weights  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402

CASES = {"lenet5": 128, "alexnet": 16}
ROUNDS = {"lenet5": 300, "alexnet": 20}
INTERLEAVED_ROUNDS = {"lenet5": 300, "alexnet": 60}  # a paired ratio needs more AlexNet rounds


def handwritten(name: str) -> nn.Module:
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
        )
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000),
    )


def batch(name: str):
    info = registry.get_model(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((CASES[name], *info.input_shape), dtype=np.float32)
    return x, rng.integers(0, info.num_classes, CASES[name])


def dlbench_step(name: str) -> Callable[[], None]:
    """One timed step exactly as the runner times it."""
    from dlbench_backends.torch.backend import TorchBackend

    info = registry.get_model(name)
    graph = info.build(info.input_shape, info.num_classes)
    backend = TorchBackend()
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("sgd"), 0)
    x, y = backend.to_device(*batch(name))
    return lambda: backend.sync(step(x, y))


def hand_optimizer(optimizer: str, params) -> torch.optim.Optimizer:
    if optimizer == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=1e-3, eps=1e-8)
    return torch.optim.SGD(params, lr=0.01)


def handwritten_step(name: str, optimizer: str = "sgd", compile: bool = False,
                     channels_last: bool = False) -> Callable[[], None]:
    """The loop a PyTorch user writes, with the same performance settings as dlbench's run."""
    torch.manual_seed(0)
    model = handwritten(name).train()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    forward = torch.compile(model) if compile else model
    opt = hand_optimizer(optimizer, model.parameters())
    xn, yn = batch(name)
    x, y = torch.from_numpy(xn).permute(0, 3, 1, 2).contiguous(memory_format=layout), torch.from_numpy(yn)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()

    return step


@pytest.mark.parametrize("name", CASES)
def test_dlbench_step(benchmark, name):
    benchmark.group = f"torch-{name}-b{CASES[name]}"
    benchmark.pedantic(dlbench_step(name), rounds=ROUNDS[name], warmup_rounds=3)


@pytest.mark.parametrize("name", CASES)
def test_handwritten_step(benchmark, name):
    benchmark.group = f"torch-{name}-b{CASES[name]}"
    benchmark.pedantic(handwritten_step(name), rounds=ROUNDS[name], warmup_rounds=3)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("name", CASES)
def test_interleaved(benchmark, name, optimizer):
    """dlbench at the settings its tuner picks (compile, channels_last) against the hand-written
    loop with the same settings."""
    p, tuning = tuned("torch", name, CASES[name], optimizer)
    step = p.backend.train_step(p.model, OptimizerSpec.create(optimizer), 0)
    x, y = p.backend.to_device(*batch(name))
    settings = {k: p.backend.settings[k] for k in ("compile", "channels_last")}
    benchmark.group = f"torch-{name}-b{CASES[name]}-{optimizer}-interleaved"
    benchmark.extra_info.update(settings=settings, tuning=tuning["mode"])
    contenders = {"dlbench": lambda: p.backend.sync(step(x, y)), "handwritten": handwritten_step(name, optimizer, **settings)}
    interleave(benchmark, contenders, INTERLEAVED_ROUNDS[name])
