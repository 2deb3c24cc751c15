"""The contract a framework backend fulfils. The training loop itself lives once, in the core.

A backend turns a :class:`~dlbench.graph.Graph` plus canonical weights into a native model and
supplies compiled steps; the core feeds every backend the same batches and reads the clocks.
Conventions every backend follows:

- inputs arrive as float32 numpy arrays (N, H, W, C) and int64 labels; ``to_device`` converts
  (layout, dtype) and places them on the device before the clock starts;
- ``train_step`` returns the mean cross-entropy loss as a device value; the core calls
  ``sync`` on it before reading the clock, so asynchronous frameworks are timed honestly;
- ``eval_step`` returns logits, in inference mode (dropout off, batch norm on running stats);
- ``export_weights`` returns the canonical layout documented in :mod:`dlbench.graph.layers`;
- steps read and update the model's *current* state when called (an eval step made before
  training evaluates the trained weights afterwards).
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from dlbench.errors import ConfigError, DlbenchError
from dlbench.graph import Graph
from dlbench.optim import OptimizerSpec
from dlbench.precision import NEEDS

#: what a performance setting is tuned for: the train step, the eval step served (``--task inference``),
#: and a model exported and served the way the framework deploys it (``--serve export``)
WORKLOADS = ("train", "inference", "export")


@dataclass(frozen=True)
class Option:
    """A backend setting, e.g. ``compile`` or ``xla``; recorded in every result.

    ``tune`` makes it a *performance* setting: one that changes speed, never the numerics (a
    different kernel, compiler or memory layout, not a lower precision), with the values worth
    timing per device, e.g. ``{"cpu": (False, True)}``, or per device and workload
    (:data:`WORKLOADS`) where they differ, e.g. ``{"cpu": {"train": (False, True), "inference": (...)}}``:
    a workload left out does not tune it (torch.compile means nothing to an exported program).
    :mod:`dlbench.tuning` times them and runs the fastest unless the user pins the option. Numerics
    (TF32, mixed precision, matmul precision) are never performance settings.
    """

    default: Any
    help: str
    choices: tuple | None = None
    tune: Mapping[str, tuple | Mapping[str, tuple]] | None = field(default=None, hash=False)
    #: values that turn a compiler on (torch.compile, XLA): the record says whether the steps ran
    #: compiled (:meth:`Backend.compilation`), and tuning's cost estimate allows for the first step of
    #: a candidate that turns one on (:mod:`dlbench.tuning.budget`)
    compiles: tuple = ()
    #: the layer kinds it changes (JAX's attention kernel: ``("attention",)``): tuned only
    #: for a model that has one; empty, every model
    layers: tuple = ()

    def __post_init__(self):
        for device in self.tune or {}:
            for workload in WORKLOADS:
                values = self.candidates(device, workload)
                if self.choices is not None and not set(values) <= set(self.choices):
                    raise ValueError(f"candidates {values} on {device} are not among the choices {self.choices}")

    def candidates(self, device: str, workload: str = "train") -> tuple:
        """The values worth timing on ``device`` for ``workload``; empty where it is not tuned."""
        values = (self.tune or {}).get(device, ())
        return tuple(values.get(workload, ()) if isinstance(values, Mapping) else values)


def parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class Backend(abc.ABC):
    name: ClassVar[str]
    options: ClassVar[Mapping[str, Option]] = {}
    devices: ClassVar[tuple[str, ...]] = ("cpu", "gpu")
    #: what it can run (``--task``); an inference-only backend leaves out ``train``
    tasks: ClassVar[tuple[str, ...]] = ("train", "inference")
    #: how the framework always runs, beyond the options (recorded with them), e.g. ``{"jit": True}``
    fixed_settings: ClassVar[Mapping[str, Any]] = {}
    #: the fixed setting that says whether a compiler always runs (JAX: ``"jit"``); an option that
    #: switches one declares it with ``Option(compiles=...)`` instead
    compiler: ClassVar[str | None] = None
    #: the module holding ``precisions(backend)`` and ``gemm(backend, precision, n)`` for
    #: ``dlbench calibrate`` (``"dlbench_backends.torch.calibrate"``); imported only when calibrating
    calibration: ClassVar[str | None] = None
    #: float32 is what runs are timed in; float64 lets ``verify`` compare training without round-off
    dtypes: ClassVar[tuple[str, ...]] = ("float32",)
    #: the numerics (``--precision``, see :mod:`dlbench.precision`) it honours per device;
    #: anything else is refused, never silently replaced by another
    precisions: ClassVar[Mapping[str, tuple[str, ...]]] = {"cpu": ("float32",), "gpu": ("float32",)}

    #: the module of its export path (``--serve export``), e.g. ``"dlbench_backends.torch.serving"``:
    #: ``LABEL``, ``DESCRIPTION`` and ``export(backend, model, x, folder)``; imported only when serving it
    serving: ClassVar[str | None] = None

    @classmethod
    def performance_options(cls, device: str, workload: str = "train",
                            kinds: frozenset[str] | None = None) -> dict[str, tuple]:
        """The performance settings worth tuning on ``device`` for ``workload``, each with its candidates;
        with ``kinds`` (a model's layer kinds), only those that change one of its layers."""
        return {k: o.candidates(device, workload) for k, o in cls.options.items()
                if o.candidates(device, workload) and (kinds is None or not o.layers or set(o.layers) & kinds)}

    @classmethod
    def compiles(cls, settings: Mapping[str, Any]) -> bool:
        """Whether ``settings`` turn on a compiler that the defaults leave off."""
        return any(v in cls.options[k].compiles and v != cls.options[k].default for k, v in settings.items())

    def compilation(self) -> dict | None:
        """Whether this backend's steps run compiled, and which setting says so:
        ``{"setting": "xla", "value": True, "compiled": True}``; None where no setting switches a compiler."""
        for key, option in self.options.items():
            if option.compiles:
                value = self.settings[key]
                return {"setting": key, "value": value, "compiled": value in option.compiles}
        if self.compiler is not None:
            value = self.fixed_settings[self.compiler]
            return {"setting": self.compiler, "value": value, "compiled": bool(value)}
        return None

    @classmethod
    def check_dtype(cls, dtype: str) -> None:
        if dtype not in cls.dtypes:
            raise ConfigError(f"{cls.name}: cannot compute in {dtype}; this backend supports: {', '.join(cls.dtypes)}")

    @classmethod
    def check_precision(cls, device: str, precision: str, dtype: str = "float32") -> None:
        """Refuse a precision this backend cannot honour on ``device``, saying what it accepts."""
        if precision != "float32" and dtype != "float32":
            raise ConfigError(f"{cls.name}: --precision {precision} contradicts computing in {dtype}; "
                              f"use --precision float32 with --dtype {dtype}")
        accepted = cls.precisions.get(device, ())
        if precision not in accepted:
            why = f": {NEEDS[precision]}" if precision in NEEDS else ""
            raise ConfigError(f"{cls.name}: cannot compute in {precision} on {device}{why}; "
                              f"accepted on {device}: {', '.join(accepted) or 'none'}")

    def __init__(self, device: str = "cpu", options: Mapping[str, Any] | None = None, dtype: str = "float32",
                 precision: str = "float32"):
        if device == "gpu" and "gpu" not in self.devices:
            raise ConfigError(f"{self.name}: --device gpu: {self.gpu_status()[1]}")
        if device not in self.devices:
            raise ConfigError(f"{self.name}: unknown device {device!r}; choose one of: {', '.join(self.devices)}")
        self.check_dtype(dtype)
        self.check_precision(device, precision, dtype)
        self.device = device
        self.dtype = dtype
        self.precision = precision
        given = dict(options or {})
        unknown = set(given) - set(self.options)
        if unknown:
            accepted = ", ".join(f"{k} (default {o.default!r})" for k, o in self.options.items()) or "none"
            raise ConfigError(f"{self.name}: unknown option(s) {', '.join(sorted(unknown))}; accepted: {accepted}")
        self.settings = {k: given.get(k, o.default) for k, o in self.options.items()}
        for k, v in self.settings.items():
            choices = self.options[k].choices
            if choices is not None and v not in choices:
                raise ConfigError(f"{self.name}: option {k}={v!r} not accepted; choose one of: {choices}")

    @property
    def precision_used(self) -> str:
        """What ``environment()["precision"]`` records: the precision, or float64 for ``verify --dtype float64``."""
        return self.dtype if self.dtype != "float32" else self.precision

    # -- describing ------------------------------------------------------------------------
    @abc.abstractmethod
    def environment(self) -> dict:
        """Framework versions, device name, thread counts and the precision actually used."""

    def accelerator(self) -> dict | None:
        """The accelerator this backend computes on, None on the CPU: ``{"model": the device name,
        "count": how many the framework sees, "runtime": e.g. "cuda 12.8"}``. Tuning choices and
        calibration profiles are keyed by it (:func:`dlbench.environment.machine_fingerprint`)."""
        return None

    @classmethod
    def gpu_status(cls) -> tuple[bool, str]:
        """(whether the framework sees a GPU, which one or why not), for ``dlbench doctor``. This default
        only tries ``--device gpu``; the built-in backends say why not (the build, the driver)."""
        if "gpu" not in cls.devices:
            return False, f"{cls.name} runs on the CPU only"
        try:
            backend = cls(device="gpu")
        except DlbenchError as e:
            return False, str(e)
        return True, f"--device gpu accepted ({backend.environment().get('device_name')})"

    # -- the model -------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, graph: Graph, weights: Mapping[str, np.ndarray]) -> Any:
        """A native model for ``graph`` holding ``weights`` (canonical layout), on the device."""

    def build_native(self, factory: Callable[..., Any], input_shape, num_classes: int, seed: int) -> Any:
        """A model from a plugin's hand-written native factory (what the graph cannot express)."""
        raise ConfigError(f"backend {self.name!r} does not support hand-written native models")

    #: data-parallel replicas the models built next are spread over (see ``replicate``)
    replicas: int = 1

    def replicate(self, replicas: int) -> dict:
        """Spread the models built next over ``replicas`` data-parallel replicas, on the framework's
        own engine; ``to_device(x, y)`` then receives the global batch. Returns how: ``engine``,
        ``processes``, ``batch_norm`` (per replica or synchronised), ``threads_per_replica``."""
        raise ConfigError(f"backend {self.name!r} has no data-parallel engine; use --replicas 1")

    @abc.abstractmethod
    def export_weights(self, model: Any) -> dict[str, np.ndarray]:
        """The model's current weights in canonical layout (the inverse of ``build``'s loading)."""

    @abc.abstractmethod
    def count_params(self, model: Any) -> tuple[int, int]:
        """(trainable, non-trainable) as the framework counts them."""

    # -- data and steps --------------------------------------------------------------------
    @abc.abstractmethod
    def to_device(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[Any, Any]:
        """Inputs and labels converted to the framework's layout and placed on the device."""

    @abc.abstractmethod
    def train_step(self, model: Any, optimizer: OptimizerSpec, seed: int) -> Callable[[Any, Any], Any]:
        """A compiled ``step(x, y) -> loss`` that updates the model in place (or its held state)."""

    @abc.abstractmethod
    def eval_step(self, model: Any) -> Callable[[Any], Any]:
        """A compiled ``step(x) -> logits`` in inference mode."""

    @abc.abstractmethod
    def sync(self, value: Any) -> None:
        """Block until ``value`` (and all work before it) is finished on the device."""

    @abc.abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """A device value as a numpy array."""

    # -- serving ---------------------------------------------------------------------------
    def export(self, model: Any, x: Any, folder: Path) -> Callable[[Any], Any]:
        """``model`` exported the way the framework deploys it, for inputs shaped as ``x`` (on the
        device), written under ``folder`` and loaded back: ``step(x) -> logits`` as ``eval_step``'s."""
        return self._serving().export(self, model, x, folder)

    def deployment(self) -> tuple[str, str]:
        """(a short label of the export path, e.g. ``"AOTInductor"``; what it is, in words)."""
        module = self._serving()
        return module.LABEL, module.DESCRIPTION

    def _serving(self):
        if self.serving is None:
            raise ConfigError(f"backend {self.name!r} has no export path; serve its eval step (--serve step)")
        return importlib.import_module(self.serving)

    # -- probes ----------------------------------------------------------------------------
    @abc.abstractmethod
    def peak_device_memory(self) -> int | None:
        """Peak bytes allocated on the accelerator since the model was built; None on CPU."""

    def gemm_precisions(self) -> tuple[str, ...]:
        """The precisions ``dlbench calibrate`` times on this device: float32, plus tf32, bfloat16
        and float16 where the device has them."""
        if self.calibration is None:
            return ("float32",)
        return importlib.import_module(self.calibration).precisions(self)

    def gemm(self, precision: str, n: int) -> Callable[[], None]:
        """A callable computing one n x n @ n x n matmul in ``precision`` on the device and waiting for
        it (``dlbench calibrate``'s ceiling), from the ``calibration`` module."""
        if self.calibration is None:
            raise ConfigError(f"backend {self.name!r} cannot time a matmul for `dlbench calibrate`")
        return importlib.import_module(self.calibration).gemm(self, precision, n)

    @abc.abstractmethod
    def train_step_flops(self, model: Any, optimizer: OptimizerSpec, x: Any, y: Any) -> tuple[float | None, str]:
        """(FLOPs of one training step as the framework counts them, how they were counted).

        Called after training and evaluation, since some counters must execute a step.
        """
