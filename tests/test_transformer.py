"""nn.MultiheadAttention and the Transformer family against torch, with copied
state dicts: outputs and the gradients of inputs and parameters (train mode,
dropout 0) and eval-mode outputs (where torch takes its fast paths)."""
import warnings

import numpy as np
import pytest
import torch

import ember
from helpers import assert_close

warnings.filterwarnings("ignore", message="enable_nested_tensor is True")


def build(name, *args, dtype=np.float64, **kw):
    """The same module in both libraries, torch's parameters copied into Ember's."""
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(*args, **kw)
    kw_e = {k: (getattr(ember.nn.functional, v.__name__) if callable(v) and hasattr(v, "__name__")
                and v.__module__.startswith("torch") else v) for k, v in kw.items()}
    e = getattr(ember.nn, name)(*args, **kw_e)
    if dtype == np.float64:
        t, e = t.double(), e.double()
    sd = {k: ember.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()}
    e.load_state_dict(sd)
    return e, t


def inputs(*shapes, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return ([ember.tensor(a, requires_grad=True) for a in arrs],
            [torch.tensor(a, requires_grad=True) for a in arrs])


def compare(e_mod, t_mod, e_in, t_in, run, grads=True, seed=1):
    """run(mod, inputs) -> tensor or tuple; compares outputs, then gradients of a
    random projection of the outputs w.r.t. inputs and parameters."""
    out_e, out_t = run(e_mod, e_in), run(t_mod, t_in)
    outs_e = out_e if isinstance(out_e, tuple) else (out_e,)
    outs_t = out_t if isinstance(out_t, tuple) else (out_t,)
    assert len(outs_e) == len(outs_t)
    for a, b in zip(outs_e, outs_t):
        if b is None:
            assert a is None
        else:
            assert_close(a, b)
    if not grads:
        return out_e
    rng = np.random.default_rng(seed)
    le, lt = 0, 0
    for a, b in zip(outs_e, outs_t):
        if b is not None and b.requires_grad:
            w = rng.standard_normal(tuple(b.shape))
            le = le + (a * ember.tensor(w.astype(a.detach().numpy().dtype))).sum()
            lt = lt + (b * torch.tensor(w, dtype=b.dtype)).sum()
    le.backward()
    lt.backward()
    for i, (a, b) in enumerate(zip(e_in, t_in)):
        if isinstance(b, torch.Tensor) and b.requires_grad:
            assert_close(a.grad, b.grad, what=f"grad of input {i}")
    pe = dict(e_mod.named_parameters())
    for n, p in t_mod.named_parameters():
        if p.grad is None:
            assert pe[n].grad is None or np.all(pe[n].grad.numpy() == 0), n
        else:
            assert_close(pe[n].grad, p.grad, what=f"grad of {n}")
    return out_e


# ---- MultiheadAttention -------------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_self_attention(batch_first, need_weights, average):
    e, t = build("MultiheadAttention", 8, 2, batch_first=batch_first)
    (xe,), (xt,) = inputs((3, 5, 8))
    compare(e, t, [xe], [xt], lambda m, x: m(x[0], x[0], x[0], need_weights=need_weights,
                                              average_attn_weights=average))


@pytest.mark.parametrize("kw", [dict(), dict(bias=False), dict(kdim=5, vdim=3),
                                dict(add_bias_kv=True), dict(add_zero_attn=True),
                                dict(add_bias_kv=True, add_zero_attn=True, kdim=5, vdim=5)])
def test_mha_cross_attention(kw):
    e, t = build("MultiheadAttention", 8, 4, **kw)
    kd, vd = kw.get("kdim", 8), kw.get("vdim", 8)
    ie, it = inputs((4, 2, 8), (6, 2, kd), (6, 2, vd))
    compare(e, t, ie, it, lambda m, x: m(*x))
    # masks too: bool key padding, float attention mask
    kpm = np.zeros((2, 6), bool)
    kpm[1, 4:] = True
    am = np.random.default_rng(3).standard_normal((4, 6))
    ie, it = inputs((4, 2, 8), (6, 2, kd), (6, 2, vd))
    compare(e, t, ie, it, lambda m, x: m(*x, key_padding_mask=_lib(m).tensor(kpm),
                                         attn_mask=_lib(m).tensor(am)))


def _lib(m):
    return torch if isinstance(m, torch.nn.Module) else ember


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_masks(need_weights):
    e, t = build("MultiheadAttention", 8, 2, batch_first=True)
    rng = np.random.default_rng(0)
    masks = [
        dict(attn_mask=rng.random((5, 5)) > 0.7),                      # bool (L, S)
        dict(attn_mask=rng.standard_normal((2 * 3, 5, 5))),            # float (N*H, L, S)
        dict(key_padding_mask=np.array([[0, 0, 0, 1, 1]] * 3, bool)),  # bool padding
        dict(key_padding_mask=rng.standard_normal((3, 5))),            # float padding
        dict(attn_mask=np.triu(np.ones((5, 5), bool), 1), is_causal=True),
        dict(attn_mask=np.triu(np.ones((5, 5), bool), 1), is_causal=True,
             key_padding_mask=np.array([[0, 0, 0, 0, 1]] * 3, bool)),
    ]
    for mk in masks:
        (xe,), (xt,) = inputs((3, 5, 8))
        compare(e, t, [xe], [xt], lambda m, x: m(x[0], x[0], x[0], need_weights=need_weights, **{
            k: (_lib(m).tensor(v) if isinstance(v, np.ndarray) else v) for k, v in mk.items()}))


def test_mha_unbatched_and_float32():
    e, t = build("MultiheadAttention", 6, 3)
    ie, it = inputs((4, 6), (5, 6), (5, 6))
    compare(e, t, ie, it, lambda m, x: m(*x, attn_mask=_lib(m).zeros(3, 4, 5, dtype=_lib(m).float64)))
    e, t = build("MultiheadAttention", 6, 3, dtype=np.float32)
    (xe,), (xt,) = inputs((4, 2, 6), dtype=np.float32)
    compare(e, t, [xe], [xt], lambda m, x: m(x[0], x[0], x[0]))


def test_mha_eval_and_no_grad():
    e, t = build("MultiheadAttention", 8, 2, dropout=0.3, batch_first=True)
    e.eval()
    t.eval()
    (xe,), (xt,) = inputs((3, 5, 8))
    with torch.no_grad(), ember.no_grad():
        compare(e, t, [xe], [xt], lambda m, x: m(x[0], x[0], x[0]), grads=False)
        compare(e, t, [xe], [xt], lambda m, x: m(x[0], x[0], x[0], need_weights=False), grads=False)


def test_mha_dropout_in_training():
    e = ember.nn.MultiheadAttention(8, 2, dropout=0.5)
    x = ember.randn(4, 2, 8)
    o1, _ = e(x, x, x)
    o2, _ = e(x, x, x)
    assert not np.allclose(o1.detach().numpy(), o2.detach().numpy())
    e.eval()
    o3, _ = e(x, x, x)
    o4, _ = e(x, x, x)
    np.testing.assert_array_equal(o3.detach().numpy(), o4.detach().numpy())


def test_mha_parameters_and_init():
    e = ember.nn.MultiheadAttention(8, 2, kdim=4, vdim=6, add_bias_kv=True)
    t = torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=6, add_bias_kv=True)
    assert [(n, tuple(p.shape)) for n, p in e.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in t.named_parameters()]
    assert e.in_proj_weight is None and e._qkv_same_embed_dim is False
    e = ember.nn.MultiheadAttention(8, 2)
    assert np.all(e.in_proj_bias.detach().numpy() == 0)
    assert np.all(e.out_proj.bias.detach().numpy() == 0)
    bound = np.sqrt(6 / (8 + 24))  # xavier-uniform on (3E, E)
    assert np.abs(e.in_proj_weight.detach().numpy()).max() <= bound
    assert repr(e) == repr(torch.nn.MultiheadAttention(8, 2)).replace("torch", "ember")


def test_mha_errors():
    with pytest.raises(AssertionError, match="divisible"):
        ember.nn.MultiheadAttention(8, 3)
    m = ember.nn.MultiheadAttention(8, 2)
    x = ember.randn(4, 2, 8)
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D"):
        m(x, x[0], x[0])
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="shape of the 2D attn_mask"):
        m(x, x, x, attn_mask=ember.zeros(3, 4))
    with pytest.raises(AssertionError, match="expecting embedding dimension of 8"):
        m(ember.randn(4, 2, 6), ember.randn(4, 2, 6), ember.randn(4, 2, 6))
    with pytest.raises(AssertionError, match="only bool and floating"):
        m(x, x, x, key_padding_mask=ember.zeros(2, 4, dtype=ember.int64))


# ---- encoder / decoder layers ---------------------------------------------------------------

LAYER_KW = [dict(), dict(norm_first=True), dict(activation="gelu"), dict(bias=False),
            dict(batch_first=True, activation=torch.nn.functional.gelu), dict(layer_norm_eps=1e-3)]


@pytest.mark.parametrize("kw", LAYER_KW)
def test_encoder_layer(kw):
    e, t = build("TransformerEncoderLayer", 8, 2, 16, 0.0, **kw)
    (xe,), (xt,) = inputs((5, 3, 8))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5).double().numpy()
    compare(e, t, [xe], [xt], lambda m, x: m(x[0]))
    (xe,), (xt,) = inputs((5, 3, 8), seed=2)
    compare(e, t, [xe], [xt], lambda m, x: m(x[0], src_mask=_lib(m).tensor(mask), is_causal=True))


def test_encoder_layer_custom_activation():
    e, t = build("TransformerEncoderLayer", 8, 2, 16, 0.0)
    e.activation = lambda x: ember.tanh(x) * 2
    t.activation = lambda x: torch.tanh(x) * 2
    (xe,), (xt,) = inputs((5, 3, 8))
    compare(e, t, [xe], [xt], lambda m, x: m(x[0]))


@pytest.mark.parametrize("kw", LAYER_KW)
def test_decoder_layer(kw):
    e, t = build("TransformerDecoderLayer", 8, 2, 16, 0.0, **kw)
    bf = kw.get("batch_first", False)
    ie, it = inputs((4, 3, 8), (6, 3, 8)) if not bf else inputs((3, 4, 8), (3, 6, 8))
    tm = torch.nn.Transformer.generate_square_subsequent_mask(4).double().numpy()
    mkpm = np.zeros((3, 6), bool)
    mkpm[0, 5:] = True
    compare(e, t, ie, it, lambda m, x: m(*x, tgt_mask=_lib(m).tensor(tm),
                                         memory_key_padding_mask=_lib(m).tensor(mkpm),
                                         tgt_is_causal=True))


# ---- stacks and the full model --------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_stack_with_masks(batch_first):
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=batch_first)
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoder(layer_t, 2, norm=torch.nn.LayerNorm(8)).double()
    layer_e = ember.nn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=batch_first)
    e = ember.nn.TransformerEncoder(layer_e, 2, norm=ember.nn.LayerNorm(8)).double()
    e.load_state_dict({k: ember.tensor(v.numpy()) for k, v in t.state_dict().items()})
    shape = (3, 5, 8) if batch_first else (5, 3, 8)
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True
    kpm[2, 4:] = True
    (xe,), (xt,) = inputs(shape)
    compare(e, t, [xe], [xt], lambda m, x: m(x[0], src_key_padding_mask=_lib(m).tensor(kpm)))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5).double().numpy()
    (xe,), (xt,) = inputs(shape, seed=3)
    compare(e, t, [xe], [xt], lambda m, x: m(x[0], mask=_lib(m).tensor(mask)))
    # eval without grad: torch's fast / nested-tensor path (padded outputs zeroed)
    e.eval()
    t.eval()
    with torch.no_grad(), ember.no_grad():
        for k in (kpm, None):
            (xe,), (xt,) = inputs(shape, seed=4)
            compare(e, t, [xe], [xt], lambda m, x: m(
                x[0], src_key_padding_mask=None if k is None else _lib(m).tensor(k)), grads=False)


def test_decoder_stack():
    layer_t = torch.nn.TransformerDecoderLayer(8, 2, 16, 0.0)
    torch.manual_seed(0)
    t = torch.nn.TransformerDecoder(layer_t, 2, norm=torch.nn.LayerNorm(8)).double()
    e = ember.nn.TransformerDecoder(ember.nn.TransformerDecoderLayer(8, 2, 16, 0.0), 2,
                                    norm=ember.nn.LayerNorm(8)).double()
    e.load_state_dict({k: ember.tensor(v.numpy()) for k, v in t.state_dict().items()})
    ie, it = inputs((4, 2, 8), (6, 2, 8))
    tm = torch.nn.Transformer.generate_square_subsequent_mask(4).double().numpy()
    compare(e, t, ie, it, lambda m, x: m(*x, tgt_mask=_lib(m).tensor(tm)))


@pytest.mark.parametrize("kw", [dict(), dict(batch_first=True, norm_first=True, activation="gelu")])
def test_transformer(kw):
    e, t = build("Transformer", d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                 dim_feedforward=16, dropout=0.0, **kw)
    bf = kw.get("batch_first", False)
    ie, it = inputs(*(((2, 5, 8), (2, 4, 8)) if bf else ((5, 2, 8), (4, 2, 8))))
    tm = ember.nn.Transformer.generate_square_subsequent_mask(4, dtype=ember.float64).numpy()
    skpm = np.zeros((2, 5), bool)
    skpm[0, 4] = True
    compare(e, t, ie, it, lambda m, x: m(*x, tgt_mask=_lib(m).tensor(tm),
                                         src_key_padding_mask=_lib(m).tensor(skpm),
                                         memory_key_padding_mask=_lib(m).tensor(skpm)))
    e.eval()
    t.eval()
    with torch.no_grad(), ember.no_grad():
        compare(e, t, ie, it, lambda m, x: m(*x, tgt_mask=_lib(m).tensor(tm)), grads=False)


def test_transformer_unbatched_and_errors():
    e, t = build("Transformer", d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                 dim_feedforward=16, dropout=0.0)
    ie, it = inputs((5, 8), (4, 8))
    compare(e, t, ie, it, lambda m, x: m(*x))
    with pytest.raises(RuntimeError, match="batch number of src and tgt"):
        e(ember.randn(5, 2, 8), ember.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match="feature number"):
        e(ember.randn(5, 2, 6), ember.randn(4, 2, 6))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        ember.nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_generate_square_subsequent_mask_and_init():
    m = ember.nn.Transformer.generate_square_subsequent_mask(4)
    assert_close(m, torch.nn.Transformer.generate_square_subsequent_mask(4))
    model = ember.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                 dim_feedforward=16)
    tm = torch.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                              dim_feedforward=16)
    assert list(model.state_dict()) == list(tm.state_dict())
    w = model.encoder.layers[0].linear1.weight.detach().numpy()
    assert np.abs(w).max() <= np.sqrt(6 / (8 + 16))  # xavier-uniform, as torch
    with pytest.warns(UserWarning, match="enable_nested_tensor is True"):
        ember.nn.TransformerEncoder(ember.nn.TransformerEncoderLayer(8, 2), 1)
