"""A plugin author's first hour: every mistake the trial made shows its cause, in the words a user
sees, and the declaration can be read before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

WRONG_ARGUMENT = """
from dlbench import hookimpl

@hookimpl
def register_models(reg):
    pass
"""
FORGOT_HOOKIMPL = """
def register_models(register):
    pass
"""
NO_HOOK_AT_ALL = """
def helper():
    pass
"""


def dlbench(*args, tmp_path, plugins_env="", env=None):
    """``dlbench ARGS`` in a fresh process, with plugin modules from ``tmp_path``."""
    environ = {**os.environ, "DLBENCH_PLUGINS": plugins_env, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
               **(env or {})}
    return subprocess.run([sys.executable, "-m", "dlbench.cli", *args], capture_output=True, text=True, env=environ,
                          cwd=tmp_path, timeout=300)


def write(tmp_path, **modules):
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))


def test_a_hook_with_a_wrong_argument_name_shows_pluggys_whole_explanation(tmp_path):
    write(tmp_path, broken_argname=WRONG_ARGUMENT)
    listed = dlbench("list", "models", tmp_path=tmp_path, plugins_env="broken_argname")
    assert listed.returncode == 0
    assert ("plugin 'broken_argname' (DLBENCH_PLUGINS) failed to load: PluginValidationError: Plugin 'broken_argname' "
            "for hook 'register_models'; hookimpl definition: register_models(reg); Argument(s) {'reg'} are declared "
            "in the hookimpl but can not be found in the hookspec") in listed.stderr


def test_a_forgotten_hookimpl_and_a_module_without_hooks_are_said(tmp_path):
    write(tmp_path, forgot=FORGOT_HOOKIMPL, nothing=NO_HOOK_AT_ALL)
    listed = dlbench("list", "models", tmp_path=tmp_path, plugins_env="forgot,nothing")
    assert ("dlbench: warning: plugin 'forgot' (DLBENCH_PLUGINS) implements no dlbench hook: register_models not "
            "marked @hookimpl (from dlbench import hookimpl)") in listed.stderr
    assert ("dlbench: warning: plugin 'nothing' (DLBENCH_PLUGINS) implements no dlbench hook; the hooks are: "
            "register_backends, register_datasets, register_models") in listed.stderr


def test_debug_prints_a_plugins_traceback(tmp_path):
    write(tmp_path, broken=WRONG_ARGUMENT.replace("pass", "pass\nimport no_such_module_xyz"))
    quiet = dlbench("list", "models", tmp_path=tmp_path, plugins_env="broken")
    loud = dlbench("--debug", "list", "models", tmp_path=tmp_path, plugins_env="broken")
    assert "Traceback" not in quiet.stderr and "DLBENCH_DEBUG=1 shows the traceback" in quiet.stderr
    line = (tmp_path / "broken.py").read_text().splitlines().index("import no_such_module_xyz") + 1
    assert f'File "{tmp_path / "broken.py"}", line {line}' in loud.stderr and "ModuleNotFoundError" in loud.stderr
    assert f"({tmp_path / 'broken.py'}:{line})" in quiet.stderr


def test_list_plugins_shows_what_loaded_from_where(tmp_path):
    listed = dlbench("list", "plugins", tmp_path=tmp_path, plugins_env="tests.plugins.numpy_backend")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[2:]}
    assert "entry point of dlbench" in rows["models"] and "models: alexnet, alvinn, lenet5" in rows["models"]
    assert "dlbench/zoo/plugin.py" in rows["models"]
    assert "DLBENCH_PLUGINS" in rows["tests.plugins.numpy_backend"] and "backends: numpy" in rows["tests.plugins.numpy_backend"]


def test_a_failed_run_says_where_its_traceback_is_and_debug_prints_it(tmp_path):
    args = ("run", "-b", "numpy", "-m", "lenet5", "-d", "synthetic", "--steps", "2", "--timeout", "120", "-q",
            "--output", str(tmp_path / "out"))
    failed = dlbench(*args, tmp_path=tmp_path, plugins_env="tests.plugins.numpy_backend")
    assert failed.returncode == 1
    (path,) = (tmp_path / "out").glob("*.json")
    assert f"(the worker's traceback is in the record's error.traceback: {path}; --debug prints it)" in failed.stderr
    assert "NotImplementedError: numpy backend: no conv layer" in json.loads(path.read_text())["error"]["traceback"]
    loud = dlbench("--debug", *args, tmp_path=tmp_path, plugins_env="tests.plugins.numpy_backend")
    assert "Traceback (most recent call last)" in loud.stderr and 'numpy_backend.py", line' in loud.stderr


def test_describe_prints_the_layers_and_the_published_totals(tmp_path):
    shown = dlbench("describe", "-m", "resnet50", tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(line.startswith("conv1 ") and "112×112×64" in line and "9,408" in line and "118,013,952" in line
               for line in lines)
    assert "total: 25,557,032 trainable + 53,120 non-trainable parameters, 4,089,184,256 MACs per sample" in shown.stdout
    assert "published: 25,557,032 + 53,120 parameters, 4,089,184,256 MACs (torchvision: 4.09 GMACs): the same" in shown.stdout
