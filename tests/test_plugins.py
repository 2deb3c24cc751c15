import pluggy
import pytest

from dlbench import hookimpl, registry
from dlbench.errors import BackendUnavailableError, DlbenchError, UnknownNameError
from dlbench.plugins import pm
from dlbench.registry import BackendInfo


def test_builtins_register_through_entry_points():
    entry_points = {name for name, _ in pm.list_name_plugin()}
    assert {"models", "datasets", "torch", "tensorflow", "jax"} <= entry_points
    assert registry.list_backends() == ["jax", "tensorflow", "torch"]
    assert registry.list_datasets() == ["cifar10", "cifar100", "digits", "fashion-mnist", "imagefolder", "mnist", "synthetic"]


def test_glob_patterns_and_aliases():
    assert registry.list_models("*net*") == ["alexnet", "lenet5", "mobilenet_v2", "resnet50"]
    assert registry.get_backend("tf").name == "tensorflow"
    assert registry.get_backend("pytorch").name == "torch"


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        registry.get_model("resnet9000")
    assert str(err.value).startswith("unknown model 'resnet9000'; choose one of: alexnet, ")
    assert all(name in str(err.value) for name in ("lenet5", "mlp", "perceptron"))


def test_throwaway_plugins_register_and_unregister(test_plugins):
    assert "tiny" in registry.list_models() and "numpy" in registry.list_backends()
    graph = registry.get_model("tiny").build((8, 8, 1), 10)
    assert graph.count_params() == (64 * 16 + 16 + 16 * 10 + 10, 0)


def test_throwaway_plugins_are_gone_after_the_fixture():
    assert "tiny" not in registry.list_models() and "numpy" not in registry.list_backends()


def test_a_misspelt_hook_fails_fast():
    class Misspelt:
        @hookimpl
        def register_modles(self, register):  # typo on purpose
            pass

    pm.register(Misspelt(), name="misspelt")
    try:
        with pytest.raises(pluggy.PluginValidationError, match="register_modles"):
            pm.check_pending()
    finally:
        pm.unregister(name="misspelt")


def test_two_plugins_cannot_claim_one_name():
    digits = registry.get_dataset("digits")

    class Clash:
        @hookimpl
        def register_datasets(self, register):
            register(digits)

    pm.register(Clash(), name="clash")
    try:
        with pytest.raises(DlbenchError, match="two plugins register the name 'digits'"):
            registry.datasets()
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
    assert "example_plugin" in {name for name, _ in pm.list_name_plugin()}
    info = registry.get_model("backprop_mlp")
    graph = info.build((28, 28, 1), 10)
    assert graph.count_params()[0] > 0
