"""The zoo's transformers are the published models: Hugging Face ``transformers``' GPT-2 and ViT,
built from their configurations (no download) and loaded with dlbench's canonical weights, give
the logits that dlbench's declaration gives on every backend and in the numpy reference.

Small configurations of the same builders (``build_gpt``, ``build_vit``) keep it to seconds; the
full-size ``gpt2`` and ``vit_b16`` differ only in their sizes, whose parameter counts
``tests/test_graph.py`` checks against the published ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from dlbench.graph import init_weights
from dlbench.zoo.gpt import build_gpt
from dlbench.zoo.vit import EPS, build_vit
from tests import numpy_reference
from tests.conftest import has

transformers = pytest.importorskip("transformers", reason="Hugging Face transformers is not installed")
torch = pytest.importorskip("torch")

DEPTH, WIDTH, HEADS = 2, 32, 4
GPT = dict(context=16, width=WIDTH, depth=DEPTH, heads=HEADS, gelu="gelu_tanh", dropout=0.0)
VOCAB = 50
VIT = dict(patch=8, width=WIDTH, depth=DEPTH, heads=HEADS, mlp=64)
IMAGE, CLASSES = (32, 32, 3), 10


def _t(a: np.ndarray) -> "torch.Tensor":
    return torch.from_numpy(np.ascontiguousarray(a, np.float32))


def hf_gpt2(w: dict[str, np.ndarray]):
    """``GPT2LMHeadModel`` with the canonical weights. Its ``Conv1D`` layers keep (in, out) kernels,
    as the canonical layout does, and ``c_attn`` holds q, k and v side by side as ``qkv_kernel``."""
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=GPT["context"], n_embd=WIDTH, n_layer=DEPTH,
                                     n_head=HEADS, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    state = {"transformer.wte.weight": w["wte.embedding"], "lm_head.weight": w["wte.embedding"],
             "transformer.wpe.weight": w["position_embedding1.embedding"],
             "transformer.ln_f.weight": w[f"ln{2 * DEPTH + 1}.gamma"], "transformer.ln_f.bias": w[f"ln{2 * DEPTH + 1}.beta"]}
    for i in range(DEPTH):
        h, attention = f"transformer.h.{i}", f"attention{i + 1}"
        state.update({
            f"{h}.ln_1.weight": w[f"ln{2 * i + 1}.gamma"], f"{h}.ln_1.bias": w[f"ln{2 * i + 1}.beta"],
            f"{h}.attn.c_attn.weight": w[f"{attention}.qkv_kernel"], f"{h}.attn.c_attn.bias": w[f"{attention}.qkv_bias"],
            f"{h}.attn.c_proj.weight": w[f"{attention}.out_kernel"], f"{h}.attn.c_proj.bias": w[f"{attention}.out_bias"],
            f"{h}.ln_2.weight": w[f"ln{2 * i + 2}.gamma"], f"{h}.ln_2.bias": w[f"ln{2 * i + 2}.beta"],
            f"{h}.mlp.c_fc.weight": w[f"dense{2 * i + 1}.kernel"], f"{h}.mlp.c_fc.bias": w[f"dense{2 * i + 1}.bias"],
            f"{h}.mlp.c_proj.weight": w[f"dense{2 * i + 2}.kernel"], f"{h}.mlp.c_proj.bias": w[f"dense{2 * i + 2}.bias"],
        })
    model = transformers.GPT2LMHeadModel(config)
    return _load(model, state), lambda x: model(input_ids=torch.from_numpy(x.astype(np.int64))).logits


def hf_vit(w: dict[str, np.ndarray]):
    """``ViTForImageClassification`` with the canonical weights: torch's (out, in) linear kernels are
    the canonical ones transposed, the patch convolution's OIHW the canonical HWIO, and q, k, v are
    the thirds of ``qkv_kernel``."""
    config = transformers.ViTConfig(hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=HEADS,
                                    intermediate_size=VIT["mlp"], image_size=IMAGE[0], patch_size=VIT["patch"],
                                    num_channels=IMAGE[2], num_labels=CLASSES, layer_norm_eps=EPS, hidden_act="gelu",
                                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    last = f"ln{2 * DEPTH + 1}"
    state = {"vit.embeddings.cls_token": w["class_token1.token"].reshape(1, 1, -1),
             "vit.embeddings.position_embeddings": w["position_embedding1.embedding"][None],
             "vit.embeddings.patch_embeddings.projection.weight": w["patch_embed.kernel"].transpose(3, 2, 0, 1),
             "vit.embeddings.patch_embeddings.projection.bias": w["patch_embed.bias"],
             "vit.layernorm.weight": w[f"{last}.gamma"], "vit.layernorm.bias": w[f"{last}.beta"],
             "classifier.weight": w[f"dense{2 * DEPTH + 1}.kernel"].T, "classifier.bias": w[f"dense{2 * DEPTH + 1}.bias"]}
    for i in range(DEPTH):
        layer, attention = f"vit.layers.{i}", f"attention{i + 1}"
        q, k, v = np.split(w[f"{attention}.qkv_kernel"], 3, axis=1)
        qb, kb, vb = np.split(w[f"{attention}.qkv_bias"], 3)
        state.update({
            f"{layer}.attention.q_proj.weight": q.T, f"{layer}.attention.q_proj.bias": qb,
            f"{layer}.attention.k_proj.weight": k.T, f"{layer}.attention.k_proj.bias": kb,
            f"{layer}.attention.v_proj.weight": v.T, f"{layer}.attention.v_proj.bias": vb,
            f"{layer}.attention.o_proj.weight": w[f"{attention}.out_kernel"].T,
            f"{layer}.attention.o_proj.bias": w[f"{attention}.out_bias"],
            f"{layer}.layernorm_before.weight": w[f"ln{2 * i + 1}.gamma"], f"{layer}.layernorm_before.bias": w[f"ln{2 * i + 1}.beta"],
            f"{layer}.layernorm_after.weight": w[f"ln{2 * i + 2}.gamma"], f"{layer}.layernorm_after.bias": w[f"ln{2 * i + 2}.beta"],
            f"{layer}.mlp.fc1.weight": w[f"dense{2 * i + 1}.kernel"].T, f"{layer}.mlp.fc1.bias": w[f"dense{2 * i + 1}.bias"],
            f"{layer}.mlp.fc2.weight": w[f"dense{2 * i + 2}.kernel"].T, f"{layer}.mlp.fc2.bias": w[f"dense{2 * i + 2}.bias"],
        })
    model = transformers.ViTForImageClassification(config)
    nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32))  # noqa: E731
    return _load(model, state), lambda x: model(pixel_values=nchw(x)).logits


def _load(model, state: dict[str, np.ndarray]):
    """Every one of the model's tensors from ``state``: none left at its random initialisation."""
    expected = model.state_dict()
    assert set(state) == set(expected), set(state) ^ set(expected)
    for key, value in state.items():
        assert tuple(expected[key].shape) == value.shape, key
    model.load_state_dict({k: _t(v) for k, v in state.items()})
    return model.eval()


CASES = {
    "gpt2": (lambda: build_gpt("gpt2_small_config", (GPT["context"],), VOCAB, **GPT), hf_gpt2,
             lambda rng: rng.integers(0, VOCAB, (3, GPT["context"]))),
    "vit": (lambda: build_vit("vit_small_config", IMAGE, CLASSES, **VIT), hf_vit,
            lambda rng: rng.standard_normal((3, *IMAGE)).astype(np.float32)),
}


def hugging_face_logits(case: str):
    declare, reference, inputs = CASES[case]
    graph = declare()
    weights = init_weights(graph, seed=3)
    for name in weights:  # every weight away from its initialiser (biases 0, LayerNorm 1), activations of order 1
        weights[name] = weights[name] + np.random.default_rng(len(name)).normal(0, 0.2, weights[name].shape)
    x = inputs(np.random.default_rng(0))
    model, call = reference(weights)
    with torch.no_grad():
        return graph, weights, x, call(x).numpy()


@pytest.mark.parametrize("case", CASES)
def test_the_numpy_reference_of_the_declaration_is_hugging_faces_model(case):
    graph, weights, x, expected = hugging_face_logits(case)
    np.testing.assert_allclose(numpy_reference.forward(graph, weights, x), expected, rtol=1e-4, atol=1e-4)


BACKENDS = [pytest.param(b, marks=[getattr(pytest.mark, b), pytest.mark.skipif(not has(b), reason=f"{b} not installed")])
            for b in ("torch", "tensorflow", "jax")]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("case", CASES)
def test_every_backend_built_from_the_declaration_gives_hugging_faces_logits(case, backend_name):
    from dlbench import registry

    graph, weights, x, expected = hugging_face_logits(case)
    backend = registry.get_backend(backend_name).load()(options={})
    model = backend.build(graph, weights)
    got = backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0]))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
