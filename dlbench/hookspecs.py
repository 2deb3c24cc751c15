"""The hooks a dlbench plugin can implement.

Each hook receives a ``register`` callback and calls it once per thing it provides::

    from dlbench import hookimpl

    @hookimpl
    def register_models(register):
        register(ModelInfo(name="tiny", build=build_tiny, summary="..."))

A hook that raises, or registers a name another plugin already has, leaves its whole plugin out
(one warning line; see :mod:`dlbench.plugins`); every other plugin keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from dlbench.registry import BackendInfo, DatasetInfo, LayerInfo, ModelInfo

hookspec = pluggy.HookspecMarker("dlbench")
hookimpl = pluggy.HookimplMarker("dlbench")


@hookspec
def register_models(register: Callable[["ModelInfo"], None]) -> None:
    """Register model declarations.

    :param register: call with a :class:`dlbench.registry.ModelInfo` per model.
    """


@hookspec
def register_datasets(register: Callable[["DatasetInfo"], None]) -> None:
    """Register datasets.

    :param register: call with a :class:`dlbench.registry.DatasetInfo` per dataset.
    """


@hookspec
def register_backends(register: Callable[["BackendInfo"], None]) -> None:
    """Register framework backends. Must not import the framework itself.

    :param register: call with a :class:`dlbench.registry.BackendInfo` per backend.
    """


@hookspec
def register_layers(register: Callable[["LayerInfo"], None]) -> None:
    """Register layer kinds the core graph lacks, with their native builders per backend.

    :param register: call with a :class:`dlbench.registry.LayerInfo` per layer kind.
    """
