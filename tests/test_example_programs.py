"""Programs of the kinds in pytorch/examples run unmodified on Ember and give
torch's numbers.

Each program in ``tests/programs`` is torch code that takes the library as a
parameter.  Here it runs twice from the same start: the models are built
with torch (its own initialisation), their state_dicts copied into the
models Ember builds, and both are trained on the same NumPy data.  Every
per-step number the program reports (losses, accuracies, learning rates)
must agree to 1e-4: ``|ember - torch| <= 1e-4 + 1e-4 * |torch|`` (absolute
for numbers below 1, relative above; ``np.testing.assert_allclose`` with
``rtol=atol=1e-4``).  The trained weights are compared too, a little more
loosely (see ``assert_same_weights``).

Randomness inside a program (dropout masks, noise, sampled actions) cannot
match bit for bit across the two libraries, so the programs take it from
outside where it matters: dropout probabilities are set to 0, the VAE's and
DCGAN's noise comes from NumPy, and the RL programs replay in Ember the
actions torch sampled (Ember's own sampling is exercised by a separate run).
"""
import math
import multiprocessing
import os

import numpy as np
import pytest
import torch

import ember
from programs import (actor_critic, dcgan, fast_neural_style, gat, hogwild, mnist_cnn, reinforce,
                      super_resolution, time_sequence, translation, translation_seq_first, vae)

RTOL = ATOL = 1e-4

# Under EMBER_TEST_DEVICE=guard the models live on the guard device; programs
# that turn NumPy data into tensors with torch.from_numpy or a legacy
# constructor (CPU tensors, in torch too) feed CPU data to them, a
# cross-device program.
cpu_data = pytest.mark.skipif(os.environ.get("EMBER_TEST_DEVICE", "cpu") != "cpu",
                              reason="feeds CPU tensors to the model, as the example does")


def copy_weights(t_models, e_models):
    """Load each torch model's state_dict into the Ember model of the same name."""
    assert t_models.keys() == e_models.keys()
    for name, t_model in t_models.items():
        state = {k: ember.tensor(v.detach().numpy()) for k, v in t_model.state_dict().items()}
        e_models[name].load_state_dict(state)


def run_both(program, build_kw=None, data_kw=None, **train_kw):
    """Build in torch, copy into Ember, train both on the same data; return both reports."""
    torch.manual_seed(0)
    t_models = program.build(torch, **(build_kw or {}))
    e_models = program.build(ember, **(build_kw or {}))
    copy_weights(t_models, e_models)
    data = program.make_data(**(data_kw or {}))
    t_out = program.train(torch, t_models, data, **train_kw)
    e_out = program.train(ember, e_models, data, **train_kw)
    return t_out, e_out, t_models, e_models


def assert_same_numbers(t_out, e_out):
    assert t_out.keys() == e_out.keys()
    for key in t_out:
        t, e = np.asarray(t_out[key], dtype=np.float64), np.asarray(e_out[key], dtype=np.float64)
        assert t.shape == e.shape, key
        assert np.isfinite(t).all(), key
        np.testing.assert_allclose(e, t, rtol=RTOL, atol=ATOL, err_msg=key)


def assert_same_weights(t_models, e_models, rtol=1e-3, atol=1e-4, skip=(), keep=None):
    """The trained weights agree (looser than the losses: Adam divides by the
    root of tiny second moments early on).  ``skip`` names entries left out;
    ``keep(name, array)`` may select the part of an entry to compare."""
    for name in t_models:
        e_state = e_models[name].state_dict()
        for k, v in t_models[name].state_dict().items():
            if f"{name}.{k}" in skip:
                continue
            e, t = e_state[k].numpy(force=True), v.detach().numpy()
            if keep is not None:
                e, t = keep(f"{name}.{k}", e), keep(f"{name}.{k}", t)
            np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, err_msg=f"{name}.{k}")


def test_mnist_cnn_adadelta_steplr():
    t_out, e_out, t_models, e_models = run_both(mnist_cnn)
    assert len(t_out["loss"]) == 4 and t_out["lr"] == pytest.approx([0.7, 0.49])
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)


def test_vae_with_shared_noise():
    t_out, e_out, t_models, e_models = run_both(vae)
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)


def test_vae_draws_its_own_noise_when_none_is_given():
    model = vae.build(ember)["model"]
    x = ember.tensor(vae.make_data()["x"][:4])
    ember.manual_seed(1)
    a = model(x)[0]
    ember.manual_seed(1)
    b = model(x)[0]
    c = model(x)[0]
    assert ember.equal(a, b) and not ember.equal(b, c)


def test_dcgan_two_adams_batchnorm_convtranspose():
    t_out, e_out, t_models, e_models = run_both(dcgan)
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)      # incl. BatchNorm running stats


def test_super_resolution_pixel_shuffle_orthogonal_init():
    t_out, e_out, t_models, e_models = run_both(super_resolution)
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)


def test_super_resolution_orthogonal_init_in_ember():
    """Ember's own init (not copied from torch): orthogonal rows scaled by the ReLU gain."""
    w = super_resolution.build(ember)["model"].conv2.weight.detach().numpy().reshape(16, -1)
    np.testing.assert_allclose(w @ w.T, 2.0 * np.eye(16), atol=1e-4)


def test_fast_neural_style_instance_norm_reflection_pad_gram_loss(tmp_path):
    t_out, e_out, t_models, e_models = run_both(fast_neural_style, path=str(tmp_path / "t.pth"))
    assert len(t_out["stylized"]) == 16 * 16 * 3
    assert_same_numbers(t_out, e_out)
    # A per-channel constant that an instance norm removes again has no effect:
    # the biases of the convolutions in front of a norm, and the residual
    # blocks' last norm biases (the next block's and the upsampling layer's
    # norms remove them).  Their gradients are rounding noise (~1e-9 in both
    # libraries), which Adam scales up to lr-sized steps of random sign.
    no_effect = [f"{m}.conv2d.bias" for m in ("conv1", "conv2", "res1.conv1", "res1.conv2",
                                               "res2.conv1", "res2.conv2", "deconv1")]
    no_effect += ["res1.in2.bias", "res2.in2.bias"]
    assert_same_weights(t_models, e_models, skip={f"transformer.{k}" for k in no_effect})
    assert all(not p.requires_grad for p in e_models["vgg"].parameters())


@cpu_data
def test_time_sequence_lstm_cells_lbfgs_double(tmp_path):
    t_out, e_out, t_models, e_models = run_both(time_sequence, path=str(tmp_path / "waves.pt"))
    assert len(t_out["closure_loss"]) > 10          # LBFGS evaluated its closure many times
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)
    assert all(p.dtype == ember.float64 for p in e_models["seq"].parameters())


@cpu_data
@pytest.mark.parametrize("program", [reinforce, actor_critic], ids=["reinforce", "actor_critic"])
def test_policy_gradient_with_categorical_replaying_torchs_actions(program):
    torch.manual_seed(0)
    t_models, e_models = program.build(torch), program.build(ember)
    copy_weights(t_models, e_models)
    data = program.make_data()
    t_out = program.train(torch, t_models, data)                  # torch samples its actions
    e_out = program.train(ember, e_models, data, actions=t_out["actions"])
    assert len(set(t_out["actions"])) == 2 and len(t_out["actions"]) > 20
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)


@cpu_data
@pytest.mark.parametrize("program", [reinforce, actor_critic], ids=["reinforce", "actor_critic"])
def test_policy_gradient_samples_its_own_actions_in_ember(program):
    ember.manual_seed(3)
    out = program.train(ember, program.build(ember), program.make_data(episodes=4))
    assert set(out["actions"]) == {0, 1}
    assert np.isfinite(out["policy_loss"]).all()
    ember.manual_seed(3)
    again = program.train(ember, program.build(ember), program.make_data(episodes=4))
    assert again["actions"] == out["actions"]                     # seeded: repeatable


@cpu_data    # (torch.FloatTensor: CPU tensors)
def test_graph_attention_masked_softmax_multihead_adam_weight_decay():
    t_out, e_out, t_models, e_models = run_both(gat)
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)


def test_transformer_translation_masks_label_smoothing_warmup():
    t_out, e_out, t_models, e_models = run_both(translation)
    assert_same_numbers(t_out, e_out)

    # The key projection's bias adds the same amount to every score of a
    # query, which the softmax removes: its gradient is rounding noise that
    # Adam turns into steps of random sign, so only the query and value
    # parts of the packed in_proj_bias are compared.
    def query_and_value_bias(key, array):
        if key.endswith("in_proj_bias"):
            return np.concatenate([array[:translation.D_MODEL], array[2 * translation.D_MODEL:]])
        return array
    assert_same_weights(t_models, e_models, keep=query_and_value_bias)


def test_hogwild_one_process_matches_torch():
    t_out, e_out, t_models, e_models = run_both(hogwild)
    assert_same_numbers(t_out, e_out)
    assert_same_weights(t_models, e_models)


@pytest.mark.parametrize("lib, start_method", [
    (ember, "fork"), pytest.param(torch, "fork", marks=pytest.mark.guard_skip),
    # (torch under 'spawn' is the example itself; left out: its two imports of torch take seconds)
    pytest.param(ember, "spawn", marks=pytest.mark.skipif(
        not hasattr(os, "memfd_create") or os.environ.get("EMBER_TEST_DEVICE", "cpu") != "cpu",
        reason="sharing with spawned processes needs memory files, and CPU tensors")),
], ids=["ember-fork", "torch-fork", "ember-spawn"])
def test_hogwild_two_processes_train_the_shared_model(lib, start_method):
    """Two workers train one shared model (with dropout on) at once; the parent
    sees their updates.  The interleaving is not repeatable, so the result is
    checked by what it must be: changed parameters and a lower, finite loss."""
    if start_method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start_method!r} start method here")
    lib.manual_seed(0)
    models = hogwild.build(lib, dropout=0.5)
    data = hogwild.make_data()
    before = {k: v.clone() for k, v in models["model"].state_dict().items()}
    loss_before = hogwild.evaluate(lib, models["model"], data)
    exitcodes, losses = hogwild.hogwild(lib, models, data, num_processes=2,
                                        start_method=start_method, timeout=60)
    assert exitcodes == [0, 0]
    assert sorted(losses) == [0, 1] and all(len(v) == 8 for v in losses.values())
    assert all(p.is_shared() for p in models["model"].parameters())
    after = models["model"].state_dict()
    assert all(not lib.equal(before[k], after[k]) for k in before)
    loss_after = hogwild.evaluate(lib, models["model"], data)
    assert math.isfinite(loss_after) and loss_after < loss_before - 0.1


def test_transformer_translation_sequence_first_tutorial_style():
    t_out, e_out, t_models, e_models = run_both(translation_seq_first)
    assert_same_numbers(t_out, e_out)

    def query_and_value_bias(key, array):       # (see the test above)
        if key.endswith("in_proj_bias"):
            return np.concatenate([array[:translation_seq_first.EMB],
                                   array[2 * translation_seq_first.EMB:]])
        return array
    assert_same_weights(t_models, e_models, keep=query_and_value_bias)
