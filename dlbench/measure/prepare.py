"""What every task builds first, in the worker: the data, and the model on the backend with the
canonical weights (several candidates of it, when tuning)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from dlbench import registry
from dlbench.config import RunConfig
from dlbench.data.dataset import Dataset, DatasetRequest
from dlbench.data.transforms import Adapter, TokenIds
from dlbench.errors import ConfigError
from dlbench.graph import Graph, init_weights

Progress = Callable[..., None]  # progress(event, **fields)


def quiet(event: str, **fields: Any) -> None:
    """A progress callback that shows nothing."""


@dataclass
class Prepared:
    """Everything a run needs, built in the worker: data, declaration, backend, model with weights."""

    dataset: Dataset
    graph: Graph | None  # None for a plugin's hand-written native model
    backend: Any
    model: Any
    adapt: Adapter
    parallel: dict | None = None  # how replicas run, when there are several


def own_options(config: RunConfig) -> RunConfig:
    """``config`` with only the backend options its backend declares (an option given to several
    backends at once applies where declared)."""
    declared = registry.get_backend(config.backend).load().options
    return replace(config, backend_options={k: v for k, v in config.backend_options.items() if k in declared})


def load_data(config: RunConfig, progress: Progress = quiet) -> tuple[Dataset, Adapter]:
    """The dataset, and how its inputs are adapted to the model's declared shape."""
    model_info = registry.get_model(config.model)
    progress("phase", name="loading data")
    shape = registry.input_shape(model_info, config.seq_len)
    request = DatasetRequest(
        model_input_shape=shape,
        model_num_classes=model_info.num_classes,
        model_inputs=model_info.inputs,
        data_dir=Path(config.data_dir) if config.data_dir else None,
        download=config.download,
        seed=config.seed,
    )
    dataset = registry.get_dataset(config.dataset).load(request)
    if dataset.inputs == "tokens":  # token ids reach the backend as they are
        return dataset, TokenIds(dataset.input_shape)
    return dataset, Adapter(dataset.input_shape, shape or dataset.input_shape, dataset.scale, dataset.mean, dataset.std)


def prepare(config: RunConfig, progress: Progress = quiet, exact: bool = False, dtype: str = "float32",
            data: tuple[Dataset, Adapter] | None = None) -> Prepared:
    """Load the data (unless ``data`` gives it) and build the model with canonical weights;
    ``exact`` turns dropout off, and ``dtype`` float64 (for ``verify``) builds it in double precision."""
    model_info = registry.get_model(config.model)
    backend_cls = registry.get_backend(config.backend).load()
    dataset, adapt = data or load_data(config, progress)
    input_shape = registry.input_shape(model_info, config.seq_len) or dataset.input_shape

    progress("phase", name="building model")
    backend_cls.check_dtype(dtype)  # before building: a float32-only backend need not take the argument
    backend_cls.check_precision(config.device, config.precision, dtype)  # likewise
    extra = {"dtype": dtype} if dtype != "float32" else {}
    extra.update({"precision": config.precision} if config.precision != "float32" else {})
    backend = backend_cls(device=config.device, options=config.backend_options, **extra)
    parallel = backend.replicate(config.replicas) if config.replicas > 1 else None
    if backend.name in model_info.native:
        module, _, attr = model_info.native[backend.name].partition(":")
        factory = getattr(importlib.import_module(module), attr)
        return Prepared(dataset, None, backend, backend.build_native(factory, input_shape, dataset.num_classes, config.seed), adapt, parallel)
    if model_info.build is None:
        raise ConfigError(f"model {config.model!r} has no declaration and no native {backend.name} version; "
                          f"it runs on: {', '.join(model_info.native)}")
    graph = model_info.build(input_shape, dataset.num_classes)
    if graph.num_classes != dataset.num_classes:
        raise ConfigError(f"model {config.model!r} ends in {graph.num_classes} outputs, but dataset {dataset.name!r} has "
                          f"{dataset.num_classes} classes; its last layer must produce num_classes (Dense(num_classes))")
    graph = graph.without_dropout() if exact else graph
    return Prepared(dataset, graph, backend, backend.build(graph, init_weights(graph, config.seed)), adapt, parallel)
