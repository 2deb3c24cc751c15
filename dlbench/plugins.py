"""The plugin manager: built-in and third-party plugins load from the ``dlbench`` entry-point group.

``DLBENCH_PLUGINS=module[,module...]`` loads extra plugin modules by name (for development and
tests); worker processes inherit it, so such plugins work in isolated runs too.
"""

from __future__ import annotations

import importlib
import os

import pluggy

from dlbench import hookspecs

ENTRY_POINT_GROUP = "dlbench"

pm = pluggy.PluginManager("dlbench")
pm.add_hookspecs(hookspecs)
pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
for _name in filter(None, os.environ.get("DLBENCH_PLUGINS", "").split(",")):
    pm.register(importlib.import_module(_name.strip()), name=_name.strip())
# A misspelt hook name in any plugin fails here rather than being silently ignored.
pm.check_pending()


def plugin_names() -> list[str]:
    """Names of the registered plugins, entry-point name where there is one."""
    return sorted(name for name, _ in pm.list_name_plugin() if name)
