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
            "register_backends, register_datasets, register_layers, register_models") in listed.stderr


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
    assert "entry point of dlbench" in rows["models"] and "models: alexnet, alvinn, gpt2, gpt_char, lenet5" in rows["models"]
    assert "dlbench/zoo/plugin.py" in rows["models"]
    assert "DLBENCH_PLUGINS" in rows["tests.plugins.numpy_backend"] and "backends: numpy" in rows["tests.plugins.numpy_backend"]


def test_a_failed_run_says_where_its_traceback_is_and_debug_prints_it(tmp_path):
    args = ("run", "-b", "numpy", "-m", "mlp", "-d", "synthetic", "--steps", "2", "-o", "crash=exception",
            "--timeout", "120", "-q", "--output", str(tmp_path / "out"))
    failed = dlbench(*args, tmp_path=tmp_path, plugins_env="tests.plugins.numpy_backend")
    assert failed.returncode == 1
    (path,) = (tmp_path / "out").glob("*.json")
    assert f"(the worker's traceback is in the record's error.traceback: {path}; --debug prints it)" in failed.stderr
    assert "RuntimeError: numpy backend crashed on purpose" in json.loads(path.read_text())["error"]["traceback"]
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


BAD_MODELS = """
from dlbench import hookimpl
from dlbench.graph import Activation, Conv2d, Dense, Flatten, MaxPool2d, sequential
from dlbench.registry import ModelInfo


def seven(input_shape, num_classes):
    return sequential("seven", input_shape, [Flatten(), Dense(32), Activation("relu"), Dense(7)])


def swishy(input_shape, num_classes):
    return sequential("swishy", input_shape, [Flatten(), Dense(32), Activation("swish"), Dense(num_classes)])


def too_deep(input_shape, num_classes):
    layers = [op for _ in range(4) for op in (Conv2d(8, 3, padding=1), MaxPool2d(2))]
    return sequential("too_deep", input_shape, [*layers, Flatten(), Dense(num_classes)])


@hookimpl
def register_models(register):
    register(ModelInfo("seven", "ends in 7 outputs", seven))
    register(ModelInfo("swishy", "an activation that does not exist", swishy))
    register(ModelInfo("too_deep", "four 2x2 poolings on 12x12", too_deep, (12, 12, 1)))
"""


def test_bad_declarations_are_listed_as_broken_and_refused_before_any_worker(tmp_path):
    write(tmp_path, bad_models=BAD_MODELS)
    listed = dlbench("list", "models", tmp_path=tmp_path, plugins_env="bad_models")
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[2:] if line.strip()}
    assert ("BROKEN: its last layer produces 7 outputs for 10 classes (probed at 28×28×1 with 10 classes, as MNIST's); "
            "end the declaration with Dense(num_classes)") in rows["seven"]
    assert "BROKEN: its declaration does not build" in rows["swishy"] and "unknown activation 'swish'" in rows["swishy"]
    assert "too small for window 2" in rows["too_deep"] and "mlp" in rows and "BROKEN" not in rows["mlp"]
    for model in ("seven", "swishy", "too_deep"):
        ran = dlbench("run", "-b", "torch", "-m", model, "-d", "digits", "--timeout", "60", "--output",
                      str(tmp_path / "out"), tmp_path=tmp_path, plugins_env="bad_models")
        assert ran.returncode == 2 and f"model {model!r} is broken: " in ran.stderr
    assert not (tmp_path / "out").exists()  # refused before any worker started: nothing recorded


def test_a_model_whose_classes_differ_from_the_datasets_is_refused_with_the_reason():
    from types import SimpleNamespace

    import pytest

    from dlbench.config import RunConfig
    from dlbench.errors import ConfigError
    from dlbench.graph import Dense, Flatten, sequential
    from dlbench.measure import prepare

    dataset = SimpleNamespace(name="digits", num_classes=10, input_shape=(8, 8, 1))
    info = SimpleNamespace(input_shape=None, num_classes=10, native={}, inputs="image",
                           build=lambda shape, classes: sequential("seven", shape, [Flatten(), Dense(7)]))
    backend = type("B", (), {"name": "numpy", "check_dtype": classmethod(lambda c, d: None),
                             "check_precision": classmethod(lambda c, *a: None), "__init__": lambda self, **k: None})
    registry = SimpleNamespace(get_model=lambda name: info, input_shape=lambda info, seq_len: None,
                               get_backend=lambda name: SimpleNamespace(load=lambda: backend))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prepare, "registry", registry)
        with pytest.raises(ConfigError, match="model 'seven' ends in 7 outputs, but dataset 'digits' has 10 classes; "
                                              r"its last layer must produce num_classes \(Dense\(num_classes\)\)"):
            prepare.prepare(RunConfig(backend="numpy", model="seven"), data=(dataset, None))


def test_verify_names_a_failing_backend_once():
    from dlbench.cli.verify import error_line

    assert error_line("numpy_lite", {"kind": "DlbenchError", "message": "numpy_lite: cannot build lenet5: no conv"}) == \
        "numpy_lite: cannot build lenet5: no conv"
    assert error_line("torch", {"kind": "RuntimeError", "message": "boom"}) == "torch: RuntimeError: boom"


def test_capabilities_show_as_a_matrix_and_refuse_an_unsupported_pair_before_any_worker(tmp_path):
    listed = dlbench("list", "models", tmp_path=tmp_path, plugins_env="tests.plugins.numpy_backend")
    head, *rows = [line.split() for line in listed.stdout.splitlines() if line.strip()][:18]
    column = head.index("numpy")
    cells = {row[0]: row[column] for row in rows if len(row) > column}
    assert cells["mlp"] == "train" and cells["lenet5"] == "-" and cells["gpt2"] == "-"
    ran = dlbench("run", "-b", "numpy", "-m", "lenet5", "--timeout", "60", "--output", str(tmp_path / "out"),
                  tmp_path=tmp_path, plugins_env="tests.plugins.numpy_backend")
    assert ran.returncode == 2 and "backend 'numpy' cannot build model 'lenet5': no avgpool, conv layer" in ran.stderr
    served = dlbench("run", "-b", "onnxruntime", "-m", "mlp", "--timeout", "60", "--output", str(tmp_path / "out"),
                     tmp_path=tmp_path)
    assert served.returncode == 2 and "backend 'onnxruntime' does not train (it does: inference); use --task inference" \
        in served.stderr
    assert not (tmp_path / "out").exists()
