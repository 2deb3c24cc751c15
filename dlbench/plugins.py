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

import difflib
import importlib
import importlib.metadata
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

from dlbench import hookspecs

ENTRY_POINT_GROUP = "dlbench"
OWN_DISTRIBUTION = "dlbench"  # its plugins load first, so a third party cannot take a built-in's name


@dataclass(frozen=True)
class Failure:
    """A plugin left out: its name, where it came from, the error in one line (``"ImportError: ...
    (bad_plugin.py:3)"``) and the whole traceback (printed with ``--debug``)."""

    name: str
    source: str
    error: str
    plugin: Any = None
    traceback: str = ""


pm = pluggy.PluginManager("dlbench")
pm.add_hookspecs(hookspecs)
HOOK_NAMES = tuple(sorted(name for name in dir(hookspecs) if name.startswith("register_")))
#: plugins that failed to load or register, by name
failures: dict[str, Failure] = {}
#: where each loaded plugin came from, by name
sources: dict[str, str] = {}


def debug() -> bool:
    """``DLBENCH_DEBUG=1`` (or ``dlbench --debug``, which sets it for workers too): full tracebacks."""
    return os.environ.get("DLBENCH_DEBUG", "") not in ("", "0")


def describe(exc: BaseException) -> str:
    """The whole message on one line, with where it was raised when that is a plugin's own file
    (an import error names the plugin's line, not importlib's)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {'; '.join(lines)}" if lines else type(exc).__name__
    if isinstance(exc, pluggy.PluginValidationError) and (typo := _misspelt_hook(str(exc))):
        text += f"; did you mean {typo!r}?"
    where = _origin(exc)
    return f"{text} ({where})" if where else text


def _misspelt_hook(message: str) -> str | None:
    unknown = message.split("unknown hook '", 1)[1].split("'", 1)[0] if "unknown hook '" in message else None
    close = difflib.get_close_matches(unknown, HOOK_NAMES, n=1) if unknown else []
    return close[0] if close else None


def _origin(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame outside Python's import machinery and pluggy."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and "pluggy" not in f.filename and "<frozen" not in f.filename]
    own = [f for f in frames if not f.filename.endswith(("dlbench/plugins.py", "dlbench/registry.py"))]
    return f"{own[-1].filename}:{own[-1].lineno}" if own else None


def fail(name: str, exc: BaseException, plugin: Any = None, source: str | None = None) -> None:
    """Record that plugin ``name`` is left out, with one warning line on stderr (once per plugin),
    and its traceback with ``--debug``."""
    known = failures.get(name)
    if known is not None and (known.plugin is plugin or plugin is None):
        return
    failure = Failure(name, source or sources.get(name, "registered in-process"), describe(exc), plugin,
                      "".join(traceback.format_exception(exc)))
    failures[name] = failure
    print(f"dlbench: warning: plugin {name!r} ({failure.source}) failed to load: {failure.error}; "
          "continuing without it" + ("" if debug() else " (DLBENCH_DEBUG=1 shows the traceback)"), file=sys.stderr)
    if debug():
        print(failure.traceback, file=sys.stderr, end="")


def warn(name: str, message: str) -> None:
    print(f"dlbench: warning: plugin {name!r} ({sources.get(name, 'registered in-process')}) {message}",
          file=sys.stderr)


def unmarked_hooks(plugin: Any) -> list[str]:
    """Functions named like a hook but not marked ``@hookimpl`` (pluggy silently ignores them)."""
    return [name for name in HOOK_NAMES if callable(getattr(plugin, name, None))
            and pm.parse_hookimpl_opts(plugin, name) is None]


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
    if not pm.get_hookcallers(plugin):
        unmarked = unmarked_hooks(plugin)
        warn(name, f"implements no dlbench hook: {', '.join(unmarked)} not marked @hookimpl "
                   f"(from dlbench import hookimpl)" if unmarked else
             f"implements no dlbench hook; the hooks are: {', '.join(HOOK_NAMES)}")
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
