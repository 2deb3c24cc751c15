"""Plugins: the built-ins load as entry points, names are looked up, and a broken plugin (failing to
import, misspelling a hook, raising or claiming a taken name when it registers) is left out with one
warning line while every other plugin and command keeps working."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from dlbench import hookimpl, plugins, registry
from dlbench.errors import BackendUnavailableError, UnknownNameError
from dlbench.plugins import pm
from dlbench.registry import BackendInfo
from tests.conftest import ROOT, registered_test_plugins

WARNING = "dlbench: warning: plugin "
HINT = " (DLBENCH_DEBUG=1 shows the traceback)"
LINE = next(i for i, line in enumerate(open(__file__), 1) if line.rstrip().endswith("# " + "LINE"))


@pytest.fixture
def clean_failures():
    """Failures recorded by a test are forgotten after it (the module keeps them per process)."""
    before = dict(plugins.failures)
    yield
    plugins.failures.clear()
    plugins.failures.update(before)


def dlbench(*args, tmp_path, plugins_env="", extra_path=()):
    """``dlbench ARGS`` in a fresh process, as a user types it."""
    env = {**os.environ, "DLBENCH_PLUGINS": plugins_env,
           "PYTHONPATH": os.pathsep.join([*map(str, extra_path), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "dlbench.cli", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(WARNING)]


BROKEN_IMPORT = "import no_such_framework_xyz  # fails on import\n"
MISSPELT_HOOK = """
from dlbench import hookimpl

@hookimpl
def register_modles(register):  # typo on purpose
    pass
"""
RAISES_ON_REGISTER = """
from dlbench import hookimpl

@hookimpl
def register_backends(register):
    raise RuntimeError("cannot find my accelerator")
"""


def row(table: str, first: str) -> list[str]:
    """The cells after ``first`` in the table row that starts with it (columns: two spaces or more)."""
    (line,) = [line for line in table.splitlines() if line.split("  ")[0] == first]
    return re.split(r"\s{2,}", line.strip())[1:]


def write_modules(folder, **modules):
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def test_builtins_register_through_entry_points():
    plugins.load()
    entry_points = {name for name, _ in pm.list_name_plugin()}
    assert {"models", "datasets", "torch", "tensorflow", "jax"} <= entry_points
    assert {"jax", "tensorflow", "torch"} <= set(registry.list_backends())
    assert registry.list_datasets() == ["cifar10", "cifar100", "digits", "fashion-mnist", "imagefolder", "mnist", "shakespeare",
                                        "synthetic", "text"]


def test_plugins_load_on_an_explicit_call_not_on_import():
    code = ("import dlbench.plugins as p, dlbench.registry, dlbench.cli; n = len(p.pm.get_plugins()); p.load(); "
            "print(n, len(p.pm.get_plugins()) > 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["0", "True"], done.stderr


def test_glob_patterns_and_aliases():
    assert [m for m in registry.list_models("*net*") if m != "swish_net"] == ["alexnet", "lenet5", "mobilenet_v2", "resnet50"]
    assert registry.get_backend("tf").name == "tensorflow"
    assert registry.get_backend("pytorch").name == "torch"


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        registry.get_model("resnet9000")
    assert str(err.value).startswith("unknown model 'resnet9000'; choose one of: alexnet, ")
    assert all(name in str(err.value) for name in ("lenet5", "mlp", "perceptron"))
    assert "not available" not in str(err.value)  # no plugin failed here


def test_throwaway_plugins_register_and_are_gone_afterwards(monkeypatch):
    assert "tiny" not in registry.list_models() and "numpy" not in registry.list_backends()
    with registered_test_plugins(monkeypatch):
        assert "tiny" in registry.list_models() and "numpy" in registry.list_backends()
        graph = registry.get_model("tiny").build((8, 8, 1), 10)
        assert graph.count_params() == (64 * 16 + 16 + 16 * 10 + 10, 0)
    assert "tiny" not in registry.list_models() and "numpy" not in registry.list_backends()



def test_the_installed_backend_template_and_the_tests_numpy_backend_are_kept_apart(monkeypatch):
    """The tests' numpy backend subclasses the template's class, and each registration names its own."""
    with registered_test_plugins(monkeypatch):
        template, numpy = registry.get_backend("numpy_lite"), registry.get_backend("numpy")
        lite_cls, numpy_cls = template.load(), numpy.load()
        assert issubclass(numpy_cls, lite_cls) and (lite_cls.name, numpy_cls.name) == ("numpy_lite", "numpy")
        assert template.layers == ("dense", "flatten", "relu") and {"tanh", "sigmoid"} <= set(numpy.layers)
        assert registry.registered_by("numpy_lite") == {"backend": ["numpy_lite"]}

def test_dlbench_rejects_a_misspelt_hook_when_loading(clean_failures, capsys):
    """dlbench's own call of ``pm.check_pending()``: without it the plugin would load silently."""

    class Misspelt:
        @hookimpl
        def register_modles(self, register):  # typo on purpose
            pass

    plugin, backends = Misspelt(), registry.list_backends()
    assert not plugins.load_one("misspelt", "a test", lambda: plugin)
    assert not pm.is_registered(plugin)
    failure = plugins.failures["misspelt"]
    assert failure.error.startswith("PluginValidationError: unknown hook 'register_modles'")
    assert failure.error.endswith("; did you mean 'register_models'?")
    assert warnings_in(capsys.readouterr().err) == [
        f"{WARNING}'misspelt' (a test) failed to load: {failure.error}; continuing without it{HINT}"]
    assert registry.list_backends() == backends  # the others load as before


def test_a_plugin_that_fails_to_import_is_left_out(clean_failures, capsys):
    def importer():
        raise ImportError("no module named 'no_such_framework_xyz'")  # LINE

    assert not plugins.load_one("broken", "a test", importer)
    assert plugins.failures["broken"].error == f"ImportError: no module named 'no_such_framework_xyz' ({__file__}:{LINE})"
    assert len(warnings_in(capsys.readouterr().err)) == 1
    with pytest.raises(UnknownNameError, match="unknown backend 'x'; choose one of: jax, .*torch.*; "
                       "not available: plugin 'broken' failed to load: ImportError: no module named"):
        registry.get_backend("x")


def test_a_plugin_that_raises_when_registering_is_left_out_with_one_warning(clean_failures, capsys):
    class Raises:
        @hookimpl
        def register_models(self, register):
            register(registry.ModelInfo("half", "registered before the error", lambda shape, classes: None))
            raise RuntimeError("cannot find my weights")

        @hookimpl
        def register_backends(self, register):
            register(BackendInfo("raises", "from the broken plugin", "x:Y"))

    backends = registry.list_backends()
    pm.register(Raises(), name="raises")
    try:
        assert "half" not in registry.list_models()  # what it registered before raising is dropped too
        for _ in range(3):
            assert registry.list_backends() == backends  # its other hooks are left out
            assert "mlp" in registry.list_models()
    finally:
        pm.unregister(name="raises")
    [warning] = warnings_in(capsys.readouterr().err)
    assert warning.startswith(f"{WARNING}'raises' (registered in-process) failed to load: RuntimeError: cannot find "
                              f"my weights ({__file__}:")
    assert warning.endswith(f"; continuing without it{HINT}")


def test_a_plugin_claiming_a_taken_name_is_left_out(clean_failures):
    digits = registry.get_dataset("digits")

    class Clash:
        @hookimpl
        def register_datasets(self, register):
            register(digits)

    pm.register(Clash(), name="clash")
    try:
        assert registry.get_dataset("digits") == digits
        assert plugins.failures["clash"].error == (
            "DlbenchError: registers the dataset 'digits', which plugin 'datasets' registered first")
    finally:
        pm.unregister(name="clash")


def test_a_backend_whose_framework_is_missing_says_how_to_install_it():
    info = BackendInfo("ghost", "needs a framework that is not there", "ghost:Backend",
                       requires=("no_such_framework_xyz",), install_hint="pip install ghost")
    assert not info.available
    with pytest.raises(BackendUnavailableError, match="needs no_such_framework_xyz.*pip install ghost"):
        info.load()


def test_example_third_party_plugin_is_installed_and_works():
    pytest.importorskip("dlbench_example_plugin", reason="plugins/dlbench-example-plugin is not installed")
    plugins.load()
    assert "example_plugin" in {name for name, _ in pm.list_name_plugin()}
    info = registry.get_model("backprop_mlp")
    graph = info.build((28, 28, 1), 10)
    assert graph.count_params()[0] > 0


# Through the command line, in fresh processes: DLBENCH_PLUGINS and an installed entry point.


def test_broken_plugins_named_in_dlbench_plugins_leave_the_tool_working(tmp_path):
    write_modules(tmp_path, broken_import=BROKEN_IMPORT, misspelt_hook=MISSPELT_HOOK)
    env = dict(tmp_path=tmp_path, plugins_env="broken_import,misspelt_hook,tests.plugins.numpy_backend",
               extra_path=[tmp_path])
    listed = dlbench("list", **env)
    assert listed.returncode == 0, listed.stderr
    assert warnings_in(listed.stderr) == [
        f"{WARNING}'broken_import' (DLBENCH_PLUGINS) failed to load: "
        f"ModuleNotFoundError: No module named 'no_such_framework_xyz' ({tmp_path / 'broken_import.py'}:1); "
        f"continuing without it{HINT}",
        f"{WARNING}'misspelt_hook' (DLBENCH_PLUGINS) failed to load: "
        f"PluginValidationError: unknown hook 'register_modles' in plugin <module 'misspelt_hook' from "
        f"'{tmp_path / 'misspelt_hook.py'}'>; did you mean 'register_models'?; continuing without it{HINT}"]
    assert "lenet5" in listed.stdout and "numpy" in listed.stdout
    assert row(listed.stdout, "broken_import") == ["DLBENCH_PLUGINS", "failed to load: ModuleNotFoundError: "
                                                   "No module named 'no_such_framework_xyz' "
                                                   f"({tmp_path / 'broken_import.py'}:1)"]

    ran = dlbench("run", "-b", "numpy", "-m", "perceptron", "-d", "synthetic", "--steps", "2", "--batch-size", "8",
                  "--timeout", "100", "-q", "--output", str(tmp_path / "results"), **env)
    assert ran.returncode == 0, ran.stderr
    assert len(warnings_in(ran.stderr)) == 2 and "Traceback" not in ran.stderr

    unknown = dlbench("run", "-b", "caffe", "-m", "perceptron", **env)
    assert unknown.returncode == 2
    assert ("unknown backend 'caffe'; choose one of: jax, numpy, " in unknown.stderr)
    assert ("torch; not available: plugin "
            "'broken_import' failed to load: ModuleNotFoundError: No module named 'no_such_framework_xyz'"
            in unknown.stderr)


def test_broken_plugins_installed_as_entry_points_leave_the_tool_working(tmp_path):
    """A distribution with two dlbench entry points, one failing to import and one raising when it
    registers, found on sys.path the way pip installs it (a ``*.dist-info`` folder)."""
    site = tmp_path / "site"
    info = site / "broken_dist-0.1.dist-info"
    info.mkdir(parents=True)
    write_modules(site, broken_import=BROKEN_IMPORT, raises_on_register=RAISES_ON_REGISTER)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[dlbench]\nbroken = broken_import\nraising = raises_on_register\n")
    env = dict(tmp_path=tmp_path, extra_path=[site], plugins_env="tests.plugins.numpy_backend")
    listed = dlbench("list", **env)
    assert listed.returncode == 0, listed.stderr
    assert warnings_in(listed.stderr) == [
        f"{WARNING}'broken' (entry point of broken-dist 0.1) failed to load: "
        f"ModuleNotFoundError: No module named 'no_such_framework_xyz' ({site / 'broken_import.py'}:1); "
        f"continuing without it{HINT}",
        f"{WARNING}'raising' (entry point of broken-dist 0.1) failed to load: "
        f"RuntimeError: cannot find my accelerator ({site / 'raises_on_register.py'}:6); continuing without it{HINT}"]
    assert row(listed.stdout, "raising") == ["entry point of broken-dist 0.1", "failed to load: RuntimeError: cannot "
                                             f"find my accelerator ({site / 'raises_on_register.py'}:6)"]
    assert "alexnet" in listed.stdout and "torch" in listed.stdout

    ran = dlbench("run", "-b", "numpy", "-m", "mlp", "-d", "digits", "--steps", "2", "--batch-size", "8",
                  "--timeout", "100", "-q", "--output", str(tmp_path / "results"), **env)
    assert ran.returncode == 0, ran.stderr
    assert len(warnings_in(ran.stderr)) == 2 and "Traceback" not in ran.stderr

    unknown = dlbench("run", "-m", "mlp", "-b", "mxnet", **env)
    assert unknown.returncode == 2 and "plugin 'raising' failed to load: RuntimeError" in unknown.stderr
