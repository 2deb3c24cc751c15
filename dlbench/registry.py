"""What plugins register, and how it is looked up by name (``list_models("res*")``, ``get_model(name)``)."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from dlbench import plugins
from dlbench.errors import BackendUnavailableError, ConfigError, DlbenchError, UnknownNameError

if TYPE_CHECKING:
    from dlbench.backend import Backend
    from dlbench.data.dataset import Dataset, DatasetRequest
    from dlbench.graph import Graph

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Published:
    """A model's figures as its authors or a reference implementation publish them, which the
    declaration must reproduce (checked by the tests, shown by ``dlbench describe``)."""

    input_shape: Shape
    num_classes: int
    params: tuple[int, int]  # trainable, non-trainable (batch-norm statistics)
    macs: int  # forward multiply-accumulates per sample, conv and dense layers
    source: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """A model: a framework-neutral declaration, and/or hand-written native models per backend.

    ``build(input_shape, num_classes)`` returns the :class:`~dlbench.graph.Graph`.
    ``input_shape`` is the shape the model is declared for (H, W, C); ``None`` means the model
    adopts the dataset's shape. ``native`` maps a backend name to a ``"module:function"`` that
    returns that framework's own module, for what the graph cannot express. ``default_run`` holds
    the RunConfig settings of a bare ``dlbench run -m NAME`` (e.g. a short synthetic speed run for an
    ImageNet-sized model); what the user gives overrides it.
    """

    name: str
    summary: str
    build: Callable[[Shape, int], "Graph"] | None = None
    input_shape: Shape | None = None
    num_classes: int = 10
    native: Mapping[str, str] = field(default_factory=dict)
    default_run: Mapping[str, Any] = field(default_factory=dict)
    published: Published | None = None
    #: what it reads: ``"image"`` (H, W, C) floats, or ``"tokens"``: (T,) integer ids, T up to
    #: ``input_shape[0]`` (its context), and ``num_classes`` is its vocabulary (the dataset's, when it has one)
    inputs: str = "image"

    def __post_init__(self):
        if self.build is None and not self.native:
            raise DlbenchError(f"model {self.name!r} needs a graph builder or a native model")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset, loaded lazily by ``load(request)``.

    ``input_shape``/``num_classes`` of ``None`` mean the dataset adapts to the model (synthetic).
    """

    name: str
    summary: str
    load: Callable[["DatasetRequest"], "Dataset"]
    input_shape: Shape | None = None
    num_classes: int | None = None
    #: what it holds: ``"image"``, ``"tokens"``, or ``"any"`` (generated in the model's kind)
    inputs: str = "image"


@dataclass(frozen=True)
class BackendInfo:
    """A backend. ``factory`` is ``"module:Class"``, imported only when the backend is used."""

    name: str
    summary: str
    factory: str
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    aliases: tuple[str, ...] = ()
    #: ``"module"`` with the backend's data-parallel engine (``launch``), imported in the worker only
    distributed: str | None = None
    #: its colour in every plot of a report (``"#ee4c2c"``); None: one picked from its name
    color: str | None = None
    #: what it can do, known without importing it: ``--task`` values; layer kinds (None: every kind
    #: of the core graph, :data:`dlbench.graph.CORE_KINDS`; plugin layers count where they implement
    #: this backend); optimisers (None: every one of :data:`dlbench.optim.OPTIMIZERS`)
    tasks: tuple[str, ...] = ("train", "inference")
    layers: tuple[str, ...] | None = None
    optimizers: tuple[str, ...] | None = None

    def missing(self) -> list[str]:
        """Modules in ``requires`` that are not installed (found without importing them)."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    @property
    def available(self) -> bool:
        return not self.missing()

    def load(self) -> type["Backend"]:
        if missing := self.missing():
            raise BackendUnavailableError(
                f"backend {self.name!r} needs {', '.join(missing)}, which is not installed; "
                f"install it with: {self.install_hint}"
            )
        module, _, attr = self.factory.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        cls.name, cls.tasks = self.name, self.tasks  # declared once, here: the class cannot lack or contradict them
        return cls

    def supports(self, kind: str) -> bool:
        """Whether it builds layers of ``kind`` itself (a plugin layer's own implementations aside)."""
        from dlbench.graph import CORE_KINDS

        return kind in CORE_KINDS if self.layers is None else kind in self.layers


@dataclass(frozen=True)
class LayerInfo:
    """A layer kind a plugin adds to the graph: ``layer``, a :class:`dlbench.graph.Layer` subclass with
    its ``kind``, shape, parameter (canonical layout, initialisers) and MAC rules; ``implementations``
    maps a backend's name to the ``"module:function"`` that builds it natively (see docs/plugins.md)."""

    layer: type
    summary: str
    implementations: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.layer.kind

    def implementation(self, backend: str) -> Callable:
        if backend not in self.implementations:
            raise ConfigError(f"layer {self.name!r} has no {backend} implementation; it runs on: "
                              f"{', '.join(self.implementations) or 'no backend'}")
        module, _, attr = self.implementations[backend].partition(":")
        return getattr(importlib.import_module(module), attr)


HOOKS = {"register_models": "model", "register_datasets": "dataset", "register_backends": "backend",
         "register_layers": "layer"}


@dataclass
class _Registrations:
    """What the plugins registered, by hook; filled once for a set of registered plugins."""

    plugins: tuple = ()
    found: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: dict[str, dict[str, str]] = field(default_factory=dict)  # hook -> name -> the plugin that registered it
    broken: dict[str, str] | None = None  # models whose declaration cannot run, with the reason


_registrations = _Registrations()


def _filled() -> dict[str, dict[str, Any]]:
    """Every registration, collected once: the plugins load (:func:`dlbench.plugins.load`), each
    registration hook is called once, and the result is kept until the set of registered plugins
    changes. A plugin whose hook raises, or registers a name an earlier plugin has, is left out
    whole (what it registered through its other hooks too)."""
    plugins.load()
    current = tuple(plugins.pm.get_plugins())
    if _registrations.plugins != current or not _registrations.found:
        while True:
            failed = len(plugins.failures)
            collected = {hook: _collect(hook) for hook in HOOKS}
            if len(plugins.failures) == failed:  # else collect again without the plugin that just failed
                break
        _registrations.plugins = current
        _registrations.found = {hook: found for hook, (found, _) in collected.items()}
        _registrations.owners = {hook: owners for hook, (_, owners) in collected.items()}
        _registrations.broken = None
    return _registrations.found


def _collect(hook_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """What every plugin registers through one hook, plugin by plugin in load order, and which
    plugin registered each name."""
    found: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for impl in getattr(plugins.pm.hook, hook_name).get_hookimpls():
        if plugins.is_broken(impl.plugin):
            continue
        mine: dict[str, Any] = {}

        def register(info, mine=mine):
            if info.name in mine:
                raise DlbenchError(f"registers the {HOOKS[hook_name]} {info.name!r} twice")
            mine[info.name] = info

        try:
            impl.function(*[{"register": register}[arg] for arg in impl.argnames])
            for name in mine:
                if name in found:
                    raise DlbenchError(f"registers the {HOOKS[hook_name]} {name!r}, "
                                       f"which plugin {owner[name]!r} registered first")
        except Exception as e:
            plugins.fail(impl.plugin_name, e, impl.plugin)
            continue
        found.update(mine)
        owner.update(dict.fromkeys(mine, impl.plugin_name))
    return found, owner


#: where a model that takes the dataset's shape is checked when it registers: MNIST's images and classes
PROBE_SHAPE, PROBE_CLASSES = (28, 28, 1), 10


def declaration_problem(info: ModelInfo) -> str | None:
    """Why ``info``'s declaration cannot run, found without a framework: its build raises (an unknown
    activation, a stack too deep for its input), or its last layer does not produce the classes. A
    model that takes the dataset's shape is probed as MNIST's (28×28×1, 10 classes). None: sound."""
    if info.build is None:
        return None
    shape = info.input_shape or PROBE_SHAPE
    classes = info.num_classes if info.input_shape else PROBE_CLASSES
    probed = "" if info.input_shape else f" (probed at {'×'.join(map(str, shape))} with {classes} classes, as MNIST's)"
    try:
        graph = info.build(tuple(shape), classes)
    except Exception as e:
        return f"its declaration does not build{probed}: {type(e).__name__}: {e}"
    if graph.num_classes != classes:
        return (f"its last layer produces {graph.num_classes} outputs for {classes} classes{probed}; end the "
                f"declaration with Dense(num_classes), the second argument of build(input_shape, num_classes)")
    return None


def broken_models() -> dict[str, str]:
    """The registered models whose declaration cannot run, with the reason (checked once per fill)."""
    found = _filled()["register_models"]
    if _registrations.broken is None:
        _registrations.broken = {name: why for name, info in found.items() if (why := declaration_problem(info))}
    return _registrations.broken


def usable_model(name: str) -> ModelInfo:
    """``get_model(name)``, refused with the reason when its declaration is broken."""
    info = get_model(name)
    if why := broken_models().get(info.name):
        raise ConfigError(f"model {info.name!r} is broken: {why}")
    return info


def check_inputs(model: ModelInfo, dataset: DatasetInfo, seq_len: int | None = None) -> None:
    """Refuse, before any worker starts, an image model on text or the reverse, and a sequence the
    model cannot read."""
    if dataset.inputs not in ("any", model.inputs):
        able = sorted(name for name, d in datasets().items() if d.inputs in ("any", model.inputs))
        raise ConfigError(f"model {model.name!r} reads {model.inputs}, and dataset {dataset.name!r} holds "
                          f"{dataset.inputs}s; choose one of: {', '.join(able)}")
    if seq_len is None:
        return
    if model.inputs != "tokens":
        raise ConfigError(f"--seq-len is for language models, and model {model.name!r} reads {model.inputs}s")
    context = model.input_shape[0] if model.input_shape else None
    if context is not None and seq_len > context:
        raise ConfigError(f"--seq-len {seq_len} is longer than the {context} tokens of model {model.name!r}'s "
                          f"context; choose at most {context}")


def input_shape(model: ModelInfo, seq_len: int | None = None) -> Shape | None:
    """The shape a run feeds ``model``: ``(seq_len,)`` for a language model given one, else its own."""
    return (seq_len,) if seq_len is not None else model.input_shape


def model_kinds(info: ModelInfo) -> frozenset[str]:
    """The layer kinds of a model's declaration (as probed for :func:`declaration_problem`); empty
    for a broken or hand-written one."""
    if info.build is None or declaration_problem(info):
        return frozenset()
    shape = info.input_shape or PROBE_SHAPE
    graph = info.build(tuple(shape), info.num_classes if info.input_shape else PROBE_CLASSES)
    return frozenset(node.layer.kind for node in graph.nodes)


def unsupported(model: ModelInfo, backend: BackendInfo, task: str = "train", optimizer: str | None = None) -> str | None:
    """Why ``backend`` cannot run ``model`` (for ``task``, with ``optimizer``), from what both declare;
    None when it can. Nothing is imported or built on a framework."""
    if task not in backend.tasks:
        return f"backend {backend.name!r} does not {task} (it does: {', '.join(backend.tasks)}); use --task {backend.tasks[0]}"
    if optimizer and task == "train" and backend.optimizers is not None and optimizer not in backend.optimizers:
        return f"backend {backend.name!r} has no {optimizer} optimiser; it has: {', '.join(backend.optimizers)}"
    if model.build is None:
        return None if backend.name in model.native else \
            f"model {model.name!r} is hand-written for {', '.join(model.native)} only"
    plugin = layers()
    missing = sorted(k for k in model_kinds(model)
                     if not backend.supports(k) and backend.name not in getattr(plugin.get(k), "implementations", {}))
    if missing:
        return f"backend {backend.name!r} cannot build model {model.name!r}: no {', '.join(missing)} layer"
    return None


def check_support(model: str, backend: str, task: str = "train", optimizer: str | None = None) -> None:
    """Refuse an unsupported model x backend pair before any worker starts."""
    if why := unsupported(get_model(model), get_backend(backend), task, optimizer):
        raise ConfigError(why)


def registered_by(plugin_name: str) -> dict[str, list[str]]:
    """What one plugin registered: ``{"model": [...], "backend": [...], ...}`` (kinds it has)."""
    _filled()
    return {HOOKS[hook]: sorted(n for n, owner in owners.items() if owner == plugin_name)
            for hook, owners in _registrations.owners.items() if plugin_name in owners.values()}

def _match(names, pattern: str | None) -> list[str]:
    return sorted(n for n in names if pattern is None or fnmatch.fnmatch(n, pattern))


def models() -> dict[str, ModelInfo]:
    return _filled()["register_models"]


def datasets() -> dict[str, DatasetInfo]:
    return _filled()["register_datasets"]


def backends() -> dict[str, BackendInfo]:
    return _filled()["register_backends"]


def layers() -> dict[str, LayerInfo]:
    """The layer kinds plugins add, by kind."""
    return _filled()["register_layers"]


def plugin_layer(layer: Any, backend: str) -> Callable:
    """The native builder of a plugin's ``layer`` on ``backend`` (what a backend calls for a layer it
    does not know), or a clear error naming the backends it runs on."""
    info = layers().get(layer.kind)
    if info is None or not isinstance(layer, info.layer):
        raise ConfigError(f"{backend} cannot build layer {type(layer).__name__} ({layer.kind!r}): neither the core "
                          f"graph nor a loaded plugin declares it (`dlbench list plugins`)")
    return info.implementation(backend)


def list_models(pattern: str | None = None) -> list[str]:
    return _match(models(), pattern)


def list_datasets(pattern: str | None = None) -> list[str]:
    return _match(datasets(), pattern)


def list_backends(pattern: str | None = None) -> list[str]:
    return _match(backends(), pattern)


def get_model(name: str) -> ModelInfo:
    return _get("model", models(), name)


def get_dataset(name: str) -> DatasetInfo:
    return _get("dataset", datasets(), name)


def get_backend(name: str) -> BackendInfo:
    found = backends()
    for info in found.values():
        if name in info.aliases:
            return info
    return _get("backend", found, name)


def _get(kind: str, found: dict, name: str):
    try:
        return found[name]
    except KeyError:
        pass
    failures = plugins.failures
    err = UnknownNameError(kind, name, sorted(found))
    if failures:  # the name may be one that a broken plugin would have registered
        err.args = (err.args[0] + "; not available: " + "; ".join(
            f"plugin {f.name!r} failed to load: {f.error}" for f in failures.values()),)
    raise err
