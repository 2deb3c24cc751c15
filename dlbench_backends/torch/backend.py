"""The PyTorch backend: eager by default, optionally torch.compile; CUDA when --device gpu."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dlbench.backend import Backend, Option
from dlbench.data.batching import shard
from dlbench.environment import cpu_model
from dlbench.errors import ConfigError
from dlbench.graph import Graph
from dlbench.optim import OptimizerSpec
from dlbench.precision import FRAMEWORK_PRECISIONS
from dlbench_backends.torch import attention, gpu, replication
from dlbench_backends.torch import model as graph_model
from dlbench_backends.torch import precision as amp
from dlbench_backends.torch.optim import make_optimizer
from dlbench_backends.torch.replication import data_parallel, mean_over_replicas


MAX_AUTOTUNE = "max-autotune-no-cudagraphs"
COMPILE_CANDIDATES = {"train": (False, True), "inference": (False, True, MAX_AUTOTUNE)}


@dataclass
class TorchModel:
    module: torch.nn.Module
    graph: Graph | None  # None for a plugin's hand-written native model
    forward: Any = None  # the (possibly compiled) callable used by the steps


class TorchBackend(Backend):
    name = "torch"
    options = {
        # performance settings (tuned per model unless pinned): eager NCHW is PyTorch's plain default.
        # Serving also times inductor's max-autotune mode (without CUDA graphs, which would replay stale
        # inputs); an AOTInductor export compiles anyway, so compile is not tuned for it
        "compile": Option(False, "wrap the model in torch.compile (inductor); a mode name compiles in that mode",
                          (True, False, MAX_AUTOTUNE), tune={"cpu": COMPILE_CANDIDATES, "gpu": COMPILE_CANDIDATES},
                          compiles=(True, MAX_AUTOTUNE)),
        "channels_last": Option(False, "images and conv weights in channels-last memory format", (True, False),
                                tune={"cpu": (False, True), "gpu": (False, True)}),
    }
    dtypes = ("float32", "float64")
    precisions = FRAMEWORK_PRECISIONS
    calibration = "dlbench_backends.torch.calibrate"
    serving = "dlbench_backends.torch.serving"
    rank = 0  # this process's replica (see replicate)

    def __init__(self, device: str = "cpu", options=None, dtype: str = "float32", precision: str = "float32"):
        super().__init__(device, options, dtype, precision)
        self.torch_dtype = getattr(torch, dtype)
        if device == "gpu":
            if not torch.cuda.is_available():
                raise ConfigError(f"torch: --device gpu but no CUDA device is visible to PyTorch: {gpu.status()[1]}")
            torch.backends.cudnn.benchmark = True
        self.torch_device = torch.device("cuda" if device == "gpu" else "cpu")
        amp.configure(self)
        self.autocast = amp.autocast(self.torch_device.type, precision)

    def environment(self) -> dict:
        env = {
            "framework": "torch",
            "torch": torch.__version__,
            "device_name": cpu_model(),
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "precision": self.precision_used,
            **amp.describe(self),
        }
        if self.device == "gpu":
            env.update(device_name=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                       cudnn=torch.backends.cudnn.version(), cudnn_benchmark=True)
        return env

    def accelerator(self) -> dict | None:
        return gpu.accelerator() if self.device == "gpu" else None

    @classmethod
    def gpu_status(cls) -> tuple[bool, str]:
        return gpu.status()

    def replicate(self, replicas: int) -> dict:
        return replication.replicate(self, replicas)

    # -- the model -------------------------------------------------------------------------
    def _wrap(self, module: torch.nn.Module, graph: Graph | None) -> TorchModel:
        module = module.to(self.torch_device, self.torch_dtype)
        if self.settings["channels_last"]:
            module = module.to(memory_format=torch.channels_last)
        forward = data_parallel(self, module)
        mode = self.settings["compile"]
        if mode:
            forward = torch.compile(forward, mode=mode if isinstance(mode, str) else None)
        if self.device == "gpu":
            torch.cuda.reset_peak_memory_stats()
        return TorchModel(module, graph, forward)

    def build(self, graph: Graph, weights) -> TorchModel:
        module = graph_model.build_model(graph)
        graph_model.load_weights(module, graph, weights)
        return self._wrap(module, graph)

    def build_native(self, factory, input_shape, num_classes, seed) -> TorchModel:
        torch.manual_seed(seed)
        return self._wrap(factory(input_shape, num_classes), None)

    def export_weights(self, model: TorchModel) -> dict[str, np.ndarray]:
        if model.graph is None:
            return {k: v.detach().cpu().numpy() for k, v in model.module.state_dict().items()}
        return graph_model.export_weights(model.module, model.graph)

    def count_params(self, model: TorchModel) -> tuple[int, int]:
        trainable = sum(p.numel() for p in model.module.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in model.module.parameters() if not p.requires_grad)
        buffers = sum(b.numel() for name, b in model.module.named_buffers() if not name.endswith("num_batches_tracked"))
        return trainable, frozen + buffers

    # -- data and steps --------------------------------------------------------------------
    def to_device(self, x: np.ndarray, y: np.ndarray | None = None):
        if y is not None and self.replicas > 1:  # this replica's slice of the global training batch
            x, y = shard(x, self.rank, self.replicas), shard(y, self.rank, self.replicas)
        xt = torch.from_numpy(x)
        if xt.ndim == 4:  # NHWC -> NCHW shape; the permuted view already is channels-last in memory
            xt = xt.permute(0, 3, 1, 2)
            xt = xt.contiguous(memory_format=torch.channels_last if self.settings["channels_last"] else torch.contiguous_format)
        xt = xt.to(self.torch_device, self.torch_dtype if xt.is_floating_point() else None)  # token ids stay ints
        return xt, (None if y is None else torch.from_numpy(y).to(self.torch_device))

    def train_step(self, model: TorchModel, optimizer: OptimizerSpec, seed: int):
        torch.manual_seed(seed)  # dropout masks
        opt = make_optimizer(optimizer, model.module.parameters())
        module, forward, replicas = model.module, model.forward, self.replicas
        cast, mixed, dtype = self.autocast, self.precision in amp.AUTOCAST, self.torch_dtype
        scaler = amp.grad_scaler(self.torch_device.type, self.precision)

        def step(x, y):
            if not module.training:
                module.train()
            opt.zero_grad(set_to_none=True)
            with cast():
                logits = forward(x).flatten(0, -2)  # (N, T, V): every position's prediction counts alike
                loss = F.cross_entropy(logits.to(dtype) if mixed else logits, y.flatten())  # the loss in float32
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)  # skips the update when a gradient overflowed
                scaler.update()
            return mean_over_replicas(loss.detach(), replicas)

        return step

    def eval_step(self, model: TorchModel):
        module, forward, cast, dtype = model.module, model.forward, self.autocast, self.torch_dtype

        @torch.inference_mode()
        def step(x):
            if module.training:
                module.eval()
            with cast():
                return forward(x).to(dtype)  # logits in float32 under autocast too

        return step

    def sync(self, value) -> None:
        if self.device == "gpu":
            torch.cuda.synchronize()

    def to_numpy(self, value) -> np.ndarray:
        return value.detach().cpu().numpy()

    # -- probes ----------------------------------------------------------------------------
    def peak_device_memory(self) -> int | None:
        return torch.cuda.max_memory_allocated() if self.device == "gpu" else None

    def train_step_flops(self, model: TorchModel, optimizer: OptimizerSpec, x, y):
        from torch.utils.flop_counter import FlopCounterMode

        unseen = sorted({type(m).__name__ for m in model.module.modules() if isinstance(m, torch.nn.RNNBase)})
        if unseen:  # fused RNN kernels have no FLOP formula: the counter would report ~0 for the recurrence
            return None, (f"torch.utils.flop_counter does not see the recurrence of {', '.join(unseen)} "
                          "(fused RNN kernels have no FLOP formula)")
        step = self.train_step(model, optimizer, seed=0)
        with FlopCounterMode(display=False, custom_mapping=attention.flop_formulas()) as counter:
            step(x, y)
        return (float(counter.get_total_flops()),
                "torch.utils.flop_counter: one executed step (conv/matmul/attention, fwd+bwd)")
