"""The plugin manager: built-in and third-party plugins load from the ``dlbench`` entry-point group,
on an explicit call of :func:`load` (the registry makes it before its first lookup), never as a
side effect of importing this module.

``DLBENCH_PLUGINS=module[,module...]`` loads extra plugin modules by name (for development and
tests); worker processes inherit it, so such plugins work in isolated runs too.

Plugins load one by one. A plugin that fails to import or implements a hook dlbench does not have
(a misspelt name: pluggy's ``check_pending``) is left out here; one that raises or claims a taken
name when it registers is left out by :mod:`dlbench.registry`. Each gets one warning line on
stderr; every other plugin and command keeps working, ``dlbench list`` shows it with its error, and
an unknown name says it may be the missing plugin's.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

from dlbench import hookspecs

ENTRY_POINT_GROUP = "dlbench"
OWN_DISTRIBUTION = "dlbench"  # its plugins load first, so a third party cannot take a built-in's name


@dataclass(frozen=True)
class Failure:
    """A plugin left out: its name, where it came from, and the error (``"ImportError: ..."``)."""

    name: str
    source: str
    error: str
    plugin: Any = None


pm = pluggy.PluginManager("dlbench")
pm.add_hookspecs(hookspecs)
#: plugins that failed to load or register, by name
failures: dict[str, Failure] = {}
#: where each loaded plugin came from, by name
sources: dict[str, str] = {}


def describe(exc: BaseException) -> str:
    """``"Kind: first line of the message"``: one line, whatever the exception says."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def fail(name: str, exc: BaseException, plugin: Any = None, source: str | None = None) -> None:
    """Record that plugin ``name`` is left out, with one warning line on stderr (once per plugin)."""
    known = failures.get(name)
    if known is not None and (known.plugin is plugin or plugin is None):
        return
    failure = Failure(name, source or sources.get(name, "registered in-process"), describe(exc), plugin)
    failures[name] = failure
    print(f"dlbench: warning: plugin {name!r} ({failure.source}) failed to load: {failure.error}; "
          "continuing without it", file=sys.stderr)


def is_broken(plugin: Any) -> bool:
    return any(f.plugin is plugin for f in failures.values())


def load_one(name: str, source: str, importer: Callable[[], Any]) -> bool:
    """Import and register one plugin; on any failure, record it and leave it out."""
    sources[name] = source
    try:
        plugin = importer()
    except Exception as e:
        fail(name, e, source=source)
        return False
    try:
        pm.register(plugin, name=name)
    except Exception as e:  # a hook implementation whose arguments the spec does not have
        fail(name, e, plugin, source)
        return False
    try:
        # A misspelt hook name fails here rather than being silently ignored. The plugins before
        # this one passed, so a failure is this plugin's.
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        pm.unregister(plugin)
        fail(name, e, plugin, source)
        return False
    return True


def _entry_points() -> list[tuple[str, str, importlib.metadata.EntryPoint]]:
    found = []
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                dist_name = dist.metadata["Name"] or "?"
                found.append((dist_name, f"entry point of {dist_name} {dist.version}", ep))
    return sorted(found, key=lambda f: f[0].replace("_", "-").lower() != OWN_DISTRIBUTION)


_loaded = False


def load() -> None:
    """Load the installed plugins (entry points, built-ins first) and those ``DLBENCH_PLUGINS`` names;
    once per process, later calls do nothing."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for _, source, ep in _entry_points():
        if not pm.has_plugin(ep.name) and ep.name not in failures:
            load_one(ep.name, source, ep.load)
    for name in filter(None, (n.strip() for n in os.environ.get("DLBENCH_PLUGINS", "").split(","))):
        if not pm.has_plugin(name):
            load_one(name, "DLBENCH_PLUGINS", lambda name=name: importlib.import_module(name))


def plugin_names() -> list[str]:
    """Names of the registered plugins, entry-point name where there is one."""
    return sorted(name for name, _ in pm.list_name_plugin() if name)
