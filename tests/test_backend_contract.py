"""What every backend promises (:mod:`dlbench.backend`), checked on every installed one against one
numpy reference (:mod:`tests.numpy_reference`): canonical weights in and out, the declared parameter
counts, eval logits for every layer kind, the optimisers' update rules, batch norm's running
statistics, float64, dropout, the device hand-over, the probes and the settings.

TensorFlow runs the numerical checks twice, with XLA (its default) and without: the two compile the
same steps differently. A backend that cannot train (ONNX Runtime) skips the training checks, and the
numpy backends (the test one, and the template numpy_lite) every graph they cannot build (they run dense
models only)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest

from dlbench import registry
from dlbench.backend import Backend
from dlbench.errors import ConfigError, UnknownNameError
from dlbench.graph import Activation, BatchNorm, Dense, Dropout, Flatten, Graph, init_weights, sequential
from dlbench.optim import OPTIMIZERS, OptimizerSpec
from tests import numpy_reference as reference
from tests.backend_cases import (
    CASES, MODELS, batch, model_and_weights, small_conv_graph, with_random_statistics,
)
from tests.plugins.numpy_backend import ACT, NumpyBackend

#: variant -> (backend, options, marks)
VARIANTS = {
    "torch": ("torch", {}, pytest.mark.torch),
    "tensorflow": ("tensorflow", {}, pytest.mark.tensorflow),
    "tensorflow-noxla": ("tensorflow", {"xla": False}, pytest.mark.tensorflow),
    "jax": ("jax", {}, pytest.mark.jax),
    "onnxruntime": ("onnxruntime", {}, ()),
    "numpy_lite": ("numpy_lite", {}, ()),
    "numpy": ("numpy", {}, ()),
}
PLAIN = [v for v, (_, options, _) in VARIANTS.items() if not options]  # each backend at its defaults


def backend_class(name: str) -> type[Backend]:
    if name == "numpy":
        return NumpyBackend
    try:
        info = registry.get_backend(name)
    except UnknownNameError:
        pytest.skip(f"no {name} backend is registered")
    if missing := info.missing():
        pytest.skip(f"{name} needs {', '.join(missing)}")
    return info.load()


def make(variant: str) -> Backend:
    name, options, _ = VARIANTS[variant]
    return backend_class(name)(options=options)


def _params(variants):
    return [pytest.param(v, marks=VARIANTS[v][2], id=v) for v in variants]


@pytest.fixture(scope="module", params=_params(VARIANTS))
def backend(request) -> Backend:
    return make(request.param)


@pytest.fixture(scope="module", params=_params(PLAIN))
def plain(request) -> Backend:
    return make(request.param)


def supported(backend: Backend, graph: Graph) -> bool:
    """Whether the backend declares every layer kind of ``graph`` (its registration's ``layers``)."""
    info = registry.backends().get(backend.name)
    kinds = {n.layer.kind for n in graph.nodes}
    if info is None:  # the numpy test backend, unregistered here
        return kinds <= {"flatten", "dense", *ACT}
    return all(info.supports(kind) for kind in kinds)


def build(backend: Backend, graph: Graph, weights):
    if not supported(backend, graph):
        pytest.skip(f"the {backend.name} backend cannot build every layer of {graph.name}")
    return backend.build(graph, weights)


def needs_training(backend: Backend) -> None:
    if "train" not in backend.tasks:
        pytest.skip(f"{backend.name} cannot train")


def logits(backend: Backend, model, x: np.ndarray) -> np.ndarray:
    return backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0]))


#: (backend, case) -> why it fails, until fixed
KNOWN_BUGS: dict[tuple[str, str], str] = {  # (backend, case): why it fails, while it does
}


# -- weights and parameters -----------------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS)
def test_models_take_and_give_back_the_canonical_weights_and_count_the_declared_parameters(plain, name):
    if "train" not in plain.tasks:  # it keeps the weights it was given: its conversion shows in its logits
        pytest.skip(f"{plain.name} cannot train, so it exports the weights it was built from")
    graph, weights = model_and_weights(name)
    model = build(plain, graph, weights)
    assert plain.count_params(model) == graph.count_params()
    exported = plain.export_weights(model)
    assert exported.keys() == weights.keys()
    for k, v in weights.items():
        assert exported[k].dtype == np.float32 and np.array_equal(exported[k], v), k


def test_weights_are_copied_in_and_out(plain):
    """Training changes neither the arrays the model was built from nor weights exported before."""
    needs_training(plain)
    graph = sequential("m", (3,), [Dense(2)])
    weights = with_random_statistics(graph)
    original = {k: v.copy() for k, v in weights.items()}
    model = build(plain, graph, weights)
    exported = plain.export_weights(model)
    step = plain.train_step(model, OptimizerSpec.create("sgd", lr=1.0), 0)
    plain.sync(step(*plain.to_device(np.ones((2, 3), np.float32), np.zeros(2, np.int64))))
    assert all(np.array_equal(weights[k], original[k]) and np.array_equal(exported[k], original[k]) for k in weights)
    assert not np.array_equal(plain.export_weights(model)["dense1.kernel"], original["dense1.kernel"])


# -- eval-mode forward ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_eval_logits_match_the_numpy_reference(backend, case, request):
    if (backend.name, case) in KNOWN_BUGS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_BUGS[backend.name, case], strict=True))
    make_graph, transform = CASES[case]
    graph = make_graph()
    weights = with_random_statistics(graph, 1)
    x, _ = batch(graph)
    x = transform(x) if transform else x
    got = logits(backend, build(backend, graph, weights), x)
    assert got.shape == (len(x), *graph.output_shape) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference.forward(graph, weights, x), rtol=1e-4, atol=1e-5)


def test_float64_is_computed_throughout_or_refused(plain, request):
    if "float64" not in plain.dtypes:
        with pytest.raises(ConfigError, match=rf"{plain.name}: cannot compute in float64"):
            type(plain)(dtype="float64")
        return
    if plain.name == "jax":  # float64 turns on jax_enable_x64 for the whole process: turn it back off after
        import jax

        request.addfinalizer(functools.partial(jax.config.update, "jax_enable_x64", jax.config.jax_enable_x64))
    backend = type(plain)(dtype="float64")
    graph = small_conv_graph()
    if not supported(backend, graph):
        graph = sequential("dense", (2, 3, 2), [Flatten(), Dense(8), Activation("relu"), Dense(3)])
    weights = {k: v.astype(np.float64) for k, v in with_random_statistics(graph, 1).items()}
    model = backend.build(graph, weights)
    x, y = batch(graph)
    got = logits(backend, model, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, reference.forward(graph, weights, x), rtol=1e-10, atol=1e-12)
    assert all(v.dtype == np.float64 for v in backend.export_weights(model).values())
    loss = backend.train_step(model, OptimizerSpec.create("sgd"), 0)(*backend.to_device(x, y))
    assert backend.to_numpy(loss).dtype == np.float64


def test_dropout_is_off_in_eval(backend):
    graph = sequential("dropout", (16,), [Dense(32), Dropout(0.5), Dense(4)])
    weights = init_weights(graph, 0)
    x, _ = batch(graph, 8)
    model = build(backend, graph, weights)
    first, second = logits(backend, model, x), logits(backend, model, x)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, logits(backend, build(backend, graph.without_dropout(), weights), x), rtol=1e-6)


# -- training -------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_train_step_follows_the_canonical_update_rule(backend, optimizer):
    """Loss and weights after each of three steps, against the numpy backend's update rules."""
    needs_training(backend)
    if isinstance(backend, NumpyBackend):
        pytest.skip("the numpy backend is the reference")
    graph = sequential("m", (6,), [Dense(8), Activation("tanh"), Dense(3)])
    weights = with_random_statistics(graph)
    spec = OptimizerSpec.create(optimizer, lr=0.05)
    ref = NumpyBackend()
    ref_model, model = ref.build(graph, weights), build(backend, graph, weights)
    ref_step, step = ref.train_step(ref_model, spec, 0), backend.train_step(model, spec, 0)
    for seed in range(3):
        x, y = batch(graph, 5, seed)
        expected = ref_step(x.astype(np.float64), y)
        assert float(backend.to_numpy(step(*backend.to_device(x, y)))) == pytest.approx(float(expected), rel=1e-5)
        exported = backend.export_weights(model)
        for k, v in ref.export_weights(ref_model).items():
            np.testing.assert_allclose(exported[k], v, rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("shape", [(3, 3, 2), (4,)], ids=["images", "vectors"])
def test_batch_norm_updates_its_running_statistics_with_the_biased_variance(backend, shape):
    """Running statistics: ``momentum * old + (1 - momentum) * batch``, the batch variance biased (as
    Keras and Flax); eval mode normalises with them."""
    needs_training(backend)
    graph = sequential("bn", shape, [BatchNorm(momentum=0.8, eps=1e-3), Flatten(), Dense(3)])
    weights = with_random_statistics(graph)
    model = build(backend, graph, weights)
    assert backend.count_params(model) == graph.count_params() and graph.count_params()[1] == 2 * shape[-1]
    x, y = batch(graph, 16)
    x = x * 3 + 1
    np.testing.assert_allclose(logits(backend, model, x), reference.forward(graph, weights, x), rtol=1e-4, atol=1e-5)
    backend.sync(backend.train_step(model, OptimizerSpec.create("sgd"), 0)(*backend.to_device(x, y)))
    got = backend.export_weights(model)
    axes = tuple(range(len(shape)))
    np.testing.assert_allclose(got["bn1.moving_mean"], 0.8 * weights["bn1.moving_mean"] + 0.2 * x.mean(axis=axes),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["bn1.moving_var"], 0.8 * weights["bn1.moving_var"] + 0.2 * x.var(axis=axes),
                               rtol=1e-5)
    np.testing.assert_allclose(logits(backend, model, x), reference.forward(graph, got, x), rtol=1e-4, atol=1e-5)


def test_dropout_masks_follow_the_seed(plain):
    """The same seed drops the same units in a fresh model; another seed others (so dropout is on)."""
    needs_training(plain)
    graph = sequential("dropout", (16,), [Dense(32), Dropout(0.5), Dense(4)])
    weights = init_weights(graph, 0)
    if not supported(plain, graph):
        pytest.skip(f"the {plain.name} backend has no dropout")
    xd, yd = plain.to_device(*batch(graph, 8))

    def losses(seed):
        step = plain.train_step(plain.build(graph, weights), OptimizerSpec.create("sgd"), seed)
        return [float(plain.to_numpy(step(xd, yd))) for _ in range(2)]

    first = losses(1)
    assert losses(1) == first != losses(2)


def test_the_steps_share_the_models_current_state(plain):
    """An eval step made before training sees the trained weights; a second train step goes on from
    them."""
    needs_training(plain)
    graph = small_conv_graph()
    model = build(plain, graph, with_random_statistics(graph))
    xd, yd = plain.to_device(*batch(graph, 8))
    evaluate = plain.eval_step(model)
    before = np.array(plain.to_numpy(evaluate(xd)))
    step = plain.train_step(model, OptimizerSpec.create("adam", lr=0.01), 0)
    losses = [float(plain.to_numpy(step(xd, yd))) for _ in range(10)]
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0]
    assert not np.allclose(plain.to_numpy(evaluate(xd)), before)
    trained = plain.export_weights(model)
    again = plain.train_step(model, OptimizerSpec.create("momentum"), 1)
    assert float(plain.to_numpy(again(xd, yd))) < 0.7 * losses[0]
    assert any(not np.array_equal(trained[k], v) for k, v in plain.export_weights(model).items())
    assert plain.count_params(model) == graph.count_params()


# -- the device hand-over, the record's description, the probes -----------------------------------
def test_inputs_and_labels_go_to_the_device_and_sync_waits_for_a_value(plain):
    graph = sequential("m", (2, 3, 1), [Flatten(), Dense(4), Activation("relu"), Dense(3)])
    model = build(plain, graph, init_weights(graph, 0))
    x, y = batch(graph, 4)
    xd, none = plain.to_device(x)
    assert none is None
    xd2, yd = plain.to_device(x, y)
    assert yd is not None
    evaluate = plain.eval_step(model)
    np.testing.assert_array_equal(plain.to_numpy(evaluate(xd)), plain.to_numpy(evaluate(xd2)))
    if "train" in plain.tasks:
        loss = plain.train_step(model, OptimizerSpec.create("sgd"), 0)(xd2, yd)
        assert plain.sync(loss) is None
        value = plain.to_numpy(loss)
        assert value.shape == () and value.dtype == np.float32 and np.isfinite(value)


#: backend -> (the setting that switches its compiler, its value at the defaults); None: no switch
COMPILERS = {"torch": ("compile", False), "tensorflow": ("xla", True), "jax": ("jit", True), "numpy": ("jit", False),
             "numpy_lite": None, "onnxruntime": None}


def test_the_environment_names_the_framework_device_and_precision(plain):
    env = plain.environment()
    assert {"framework", "device_name", "precision"} <= env.keys()
    assert env["precision"] == "float32" and isinstance(env[env["framework"]], str)  # the framework's version
    assert plain.accelerator() is None and plain.peak_device_memory() is None  # on the CPU
    assert set(plain.tasks) <= {"train", "inference"} and "inference" in plain.tasks
    expected = COMPILERS[plain.name]
    assert plain.compilation() == (None if expected is None else
                                   {"setting": expected[0], "value": expected[1], "compiled": expected[1]})


#: backend -> (a word of how it counts, lowest and highest share of 6 x MACs x batch)
FLOP_COUNTERS = {
    # the first conv needs no input gradient, so torch counts a little less than 3x the forward
    "torch": ("flop_counter", 0.85, 1.0),
    # TF's statistics count element-wise ops too, and its conv backprop generously: LeNet-5 comes to 1.38x
    "tensorflow": ("profiler", 1.0, 1.5),
    "jax": ("XLA", 0.67, 1.33),
}


def test_the_flop_probe_counts_one_training_step_or_says_why_not(plain):
    needs_training(plain)
    graph = CASES["lenet5"][0]()
    model = build(plain, graph, init_weights(graph, 0))
    x, y = plain.to_device(np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int64))
    flops, method = plain.train_step_flops(model, OptimizerSpec.create("sgd"), x, y)
    if plain.name not in FLOP_COUNTERS:
        assert flops is None and method
        return
    word, low, high = FLOP_COUNTERS[plain.name]
    analytic = 6 * graph.macs() * 4
    assert low * analytic < flops <= high * analytic and word in method, (flops / analytic, method)


def test_the_gemm_for_calibrate_runs_in_float32_or_is_refused(plain):
    if plain.calibration is None and type(plain).gemm is Backend.gemm:
        with pytest.raises(ConfigError, match="cannot time a matmul"):
            plain.gemm("float32", 8)
        return
    assert "float32" in plain.gemm_precisions()
    plain.gemm("float32", 16)()


# -- settings ------------------------------------------------------------------------------------
def test_settings_default_as_declared_and_unknown_ones_are_refused(plain):
    cls = type(plain)
    assert plain.settings == {k: o.default for k, o in cls.options.items()}
    with pytest.raises(ConfigError, match="unknown option"):
        cls(options={"no_such_setting": True})
    for key, option in cls.options.items():
        if option.choices is not None:
            with pytest.raises(ConfigError, match=rf"option {key}="):
                cls(options={key: "no-such-value"})
    with pytest.raises(ConfigError, match="unknown device"):
        cls(device="tpu")


def test_a_gpu_it_cannot_see_is_a_clear_error(plain):
    cls = type(plain)
    visible, why = cls.gpu_status()
    if visible:
        pytest.skip("a GPU is visible")
    with pytest.raises(ConfigError, match=rf"^{plain.name}: --device gpu") as refused:
        cls(device="gpu")
    assert why in str(refused.value)  # the reason `dlbench doctor` gives


def test_the_core_imports_no_framework():
    frameworks = re.compile(r"^\s*(import|from)\s+(torch|tensorflow|jax|jaxlib|flax|optax|keras|onnx|onnxruntime)\b",
                            re.M)
    core = Path(__file__).resolve().parent.parent / "dlbench"
    leaks = [f"{p.relative_to(core.parent)}: {m.group(0).strip()}" for p in sorted(core.rglob("*.py"))
             for m in frameworks.finditer(p.read_text())]
    assert not leaks, leaks
