"""The candidate grid: every combination of a backend's performance settings the user left free."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Grid:
    """``performance``: each performance option on this device with its candidate values;
    ``pinned``: what the user set with ``-o`` (never tuned); ``defaults``: each option's default."""

    performance: Mapping[str, tuple]
    pinned: Mapping[str, Any]
    defaults: Mapping[str, Any]

    @classmethod
    def of(cls, backend_cls, device: str, pinned: Mapping[str, Any], workload: str = "train",
           kinds: frozenset[str] | None = None) -> "Grid":
        return cls(backend_cls.performance_options(device, workload, kinds), dict(pinned),
                   {k: o.default for k, o in backend_cls.options.items()})

    @property
    def free(self) -> dict[str, tuple]:
        """The performance options left to tune, each with its candidates, the default first."""
        return {k: _default_first(v, self.defaults[k]) for k, v in self.performance.items() if k not in self.pinned}

    def candidates(self) -> list[dict[str, Any]]:
        """Every combination of the free options' values; the plain defaults come first."""
        free = self.free
        return [dict(zip(free, values)) for values in itertools.product(*free.values())]

    def plain(self) -> dict[str, Any]:
        """The free options at their defaults: what ``--no-tune`` runs."""
        return {k: self.defaults[k] for k in self.free}

    def accepts(self, chosen: Any) -> bool:
        """Whether ``chosen`` (e.g. read from a cache file) is one of this grid's candidates."""
        free = self.free
        return (isinstance(chosen, dict) and set(chosen) == set(free)
                and all(chosen[k] in free[k] for k in free))


def _default_first(values: tuple, default: Any) -> tuple:
    return tuple(sorted(values, key=lambda v: v != default))
