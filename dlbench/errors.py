"""Errors that reach the user as a one-line message, never as a traceback."""

from __future__ import annotations


class DlbenchError(Exception):
    """Base class: the message says what was wrong and what is accepted."""


class UnknownNameError(DlbenchError, KeyError):
    """A model, backend or dataset name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        choices = ", ".join(known) if known else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; choose one of: {choices}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ConfigError(DlbenchError, ValueError):
    """An invalid run setting."""


class DataError(DlbenchError):
    """Dataset files missing, corrupt or of the wrong format."""


class BackendUnavailableError(DlbenchError):
    """The backend is registered but its framework is not installed."""


class ReplicaFailed(DlbenchError):
    """A process of a data-parallel run died, hung past the collective timeout, or raised."""
