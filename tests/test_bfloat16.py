"""ember.bfloat16 (through ml_dtypes) against torch 2.13's CPU bfloat16.

Where torch's CPU kernel computes in float32 and rounds once (elementwise
ops, reductions, softmax, layer norm, small matmuls, conv) Ember's results
are the same bits.  Gradients are compared at bfloat16's tolerance: torch's
backward formulas are chains of bfloat16 ops, each rounding, where Ember's
widened backward rounds once.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
import ember.serialization

pytest.importorskip("ml_dtypes")

# torch.testing.assert_close's bfloat16 defaults
RTOL, ATOL = 1.6e-2, 1e-5


def _np(t):
    """A tensor's values as a float32 NumPy array (bfloat16 has no NumPy type in torch)."""
    return t.detach().float().numpy()


def _dtype_name(dt):
    return str(dt).split(".")[-1]


def _pair(arrays, requires_grad=True):
    """The same float32 data rounded to bfloat16 in both frameworks."""
    es = [ember.tensor(a).to(ember.bfloat16).requires_grad_(requires_grad) for a in arrays]
    ts = [torch.tensor(a).to(torch.bfloat16).requires_grad_(requires_grad) for a in arrays]
    return es, ts


def _run_both(fn, shapes, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    if positive:
        arrays = [np.abs(a) + 0.1 for a in arrays]
    es, ts = _pair(arrays)
    oe, ot = fn(ember, ember.nn.functional, *es), fn(torch, torch.nn.functional, *ts)
    assert _dtype_name(oe.dtype) == _dtype_name(ot.dtype) == "bfloat16"
    g = rng.standard_normal(tuple(ot.shape)).astype(np.float32)
    oe.backward(ember.tensor(g).to(ember.bfloat16))
    ot.backward(torch.tensor(g).to(torch.bfloat16))
    return oe, ot, es, ts


def _check_grads(es, ts):
    for e, t in zip(es, ts):
        assert _dtype_name(e.grad.dtype) == _dtype_name(t.grad.dtype) == "bfloat16"
        ge, gt = _np(e.grad), _np(t.grad)
        # one bfloat16 step of the gradient's scale: torch's formulas round at each op
        atol = max(ATOL, float(np.abs(gt).max()) * 2.0 ** -7)
        np.testing.assert_allclose(ge, gt, rtol=RTOL, atol=atol)


# ops whose forward torch computes in float32 and rounds once: the same bits
EXACT = {
    "add": (lambda L, F, a, b: a + b, [(5, 7), (5, 7)], False),
    "add_broadcast": (lambda L, F, a, b: a + b, [(5, 7), (7,)], False),
    "add_scalar": (lambda L, F, a: a + 0.1, [(5, 7)], False),
    "sub": (lambda L, F, a, b: a - b, [(5, 7), (5, 7)], False),
    "mul": (lambda L, F, a, b: a * b, [(5, 7), (5, 7)], False),
    "mul_scalar": (lambda L, F, a: a * 1.37, [(5, 7)], False),
    "div": (lambda L, F, a, b: a / b, [(5, 7), (5, 7)], True),
    "exp": (lambda L, F, a: a.exp(), [(5, 7)], False),
    "log": (lambda L, F, a: a.log(), [(5, 7)], True),
    "sqrt": (lambda L, F, a: a.sqrt(), [(5, 7)], True),
    "tanh": (lambda L, F, a: a.tanh(), [(5, 7)], False),
    "sigmoid": (lambda L, F, a: a.sigmoid(), [(5, 7)], False),
    "relu": (lambda L, F, a: F.relu(a), [(5, 7)], False),
    "gelu": (lambda L, F, a: F.gelu(a), [(5, 7)], False),
    "gelu_tanh": (lambda L, F, a: F.gelu(a, approximate="tanh"), [(5, 7)], False),
    "silu": (lambda L, F, a: F.silu(a), [(5, 7)], False),
    "square": (lambda L, F, a: a ** 2, [(5, 7)], False),
    "abs_neg": (lambda L, F, a: -a.abs(), [(5, 7)], False),
    "clamp": (lambda L, F, a: a.clamp(-0.5, 0.5), [(5, 7)], False),
    "maximum": (lambda L, F, a, b: L.maximum(a, b), [(5, 7), (5, 7)], False),
    "where": (lambda L, F, a, b: L.where(a > 0, a, b), [(5, 7), (5, 7)], False),
    "sum": (lambda L, F, a: a.sum(), [(5, 7)], False),
    "sum_dim": (lambda L, F, a: a.sum(1), [(5, 7)], False),
    "mean": (lambda L, F, a: a.mean(0), [(5, 7)], False),
    "max_dim": (lambda L, F, a: a.max(1)[0], [(5, 7)], False),
    "var": (lambda L, F, a: a.var(1), [(5, 7)], False),
    "std": (lambda L, F, a: a.std(), [(5, 7)], False),
    "norm": (lambda L, F, a: a.norm(), [(5, 7)], False),
    "cumsum": (lambda L, F, a: a.cumsum(1), [(5, 7)], False),
    "softmax": (lambda L, F, a: F.softmax(a, -1), [(5, 7)], False),
    "matmul": (lambda L, F, a, b: a @ b, [(5, 7), (7, 3)], False),
    "bmm": (lambda L, F, a, b: a @ b, [(2, 5, 7), (2, 7, 3)], False),
    "linear": (lambda L, F, x, w, b: F.linear(x, w, b), [(5, 7), (3, 7), (3,)], False),
    "layer_norm": (lambda L, F, x, w, b: F.layer_norm(x, (7,), w, b), [(5, 7), (7,), (7,)], False),
    "mse_loss": (lambda L, F, a, b: F.mse_loss(a, b), [(5, 7), (5, 7)], False),
    "conv2d": (lambda L, F, x, w: F.conv2d(x, w, padding=1), [(2, 3, 6, 6), (4, 3, 3, 3)], False),
    "cat_index": (lambda L, F, a, b: L.cat([a, b])[1:5, ::2] * 1, [(5, 7), (2, 7)], False),
    "embedding": (lambda L, F, w: F.embedding(L.tensor([1, 0, 3]), w), [(5, 7)], False),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_op_bits_match_torch(name):
    fn, shapes, positive = EXACT[name]
    oe, ot, es, ts = _run_both(fn, shapes, positive=positive)
    np.testing.assert_array_equal(_np(oe), _np(ot))
    _check_grads(es, ts)


# torch's kernels for these sum in another order or use another formula: one bfloat16 step
CLOSE = {
    "log_softmax": (lambda L, F, a: F.log_softmax(a, -1), [(5, 7)]),
    "rsqrt": (lambda L, F, a: (a.abs() + 0.1).rsqrt(), [(5, 7)]),
    "cross_entropy": (lambda L, F, a: F.cross_entropy(a, L.tensor([0, 1, 2, 3, 4])), [(5, 7)]),
    "sdpa_causal": (lambda L, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                    [(1, 2, 4, 8)] * 3),
    "matmul_larger": (lambda L, F, a, b: a @ b, [(16, 300), (300, 9)]),
}


@pytest.mark.parametrize("name", sorted(CLOSE))
def test_op_close_to_torch(name):
    fn, shapes = CLOSE[name]
    oe, ot, es, ts = _run_both(fn, shapes)
    np.testing.assert_allclose(_np(oe), _np(ot), rtol=RTOL, atol=ATOL * 100)
    _check_grads(es, ts)


def test_rounding_is_to_nearest_even_once():
    # 1 + 2^-8 lies halfway between two bfloat16 numbers: ties go to the even one (1.0);
    # 1 + 3 * 2^-9 rounds up.  A sum of 256 copies of 1/256 is computed in float32.
    x = ember.tensor([1 + 2 ** -8, 1 + 3 * 2 ** -9, -(1 + 2 ** -8)]).to(ember.bfloat16)
    assert x.tolist() == [1.0, 1.0078125, -1.0]
    s = ember.full((256,), 1 / 256, dtype=ember.bfloat16).sum()
    assert s.item() == 1.0 and s.dtype is ember.bfloat16
    big = ember.tensor([3e38]).to(ember.bfloat16)
    assert big.tolist() == torch.tensor([3e38]).to(torch.bfloat16).tolist()


def test_creation_casts_and_metadata_as_torch():
    bf = ember.bfloat16
    for make in (lambda L: L.tensor([1.3, 2.7, 1e30, 0.0], dtype=L.bfloat16),
                 lambda L: L.tensor([1, 3], dtype=L.bfloat16),
                 lambda L: L.full((3,), 3.3, dtype=L.bfloat16),
                 lambda L: L.arange(0, 1, 0.25, dtype=L.bfloat16),
                 lambda L: L.linspace(0, 1, 5, dtype=L.bfloat16),
                 lambda L: L.eye(2, dtype=L.bfloat16),
                 lambda L: L.tensor([1.00390625, 1.01171875, -2.3]).to(L.bfloat16),
                 lambda L: L.tensor([257, 3]).bfloat16(),
                 lambda L: L.tensor([1.00390625, 65504.]).half().to(L.bfloat16)):
        e, t = make(ember), make(torch)
        assert e.dtype is bf and t.dtype is torch.bfloat16
        np.testing.assert_array_equal(_np(e), _np(t))
        assert repr(e).replace("ember.", "").replace(", device='guard'", "") == \
            repr(t).replace("torch.", "")
    x = ember.tensor([1.7, -2.7, 1e5]).bfloat16()
    assert x.float().dtype is ember.float32 and x.double().dtype is ember.float64
    assert x.long().tolist() == torch.tensor([1.7, -2.7, 1e5]).bfloat16().long().tolist()
    assert x.half().tolist() == torch.tensor([1.7, -2.7, 1e5]).bfloat16().half().tolist()
    assert ember.zeros(2, 3, dtype=bf).dtype is bf and ember.zeros_like(x).dtype is bf
    assert ember.randn(4, dtype=bf).dtype is bf and ember.rand(4, dtype=bf).dtype is bf
    assert x.element_size() == 2 and x.is_floating_point() and x.type() == "ember.BFloat16Tensor"
    assert (bf.itemsize, bf.is_floating_point, bf.is_signed, str(bf)) == (2, True, True, "ember.bfloat16")
    assert isinstance(x[0].item(), float) and x.tolist() == [1.703125, -2.703125, 99840.0]
    assert ember.nn.Linear(2, 2).bfloat16().weight.dtype is bf
    import ml_dtypes                             # an ml_dtypes array becomes a bfloat16 tensor
    a = np.array([1.5, -2.25], dtype=ml_dtypes.bfloat16)
    assert ember.tensor(a).dtype is bf and ember.tensor(a).tolist() == [1.5, -2.25]


def test_numpy_refuses_bfloat16_as_torch():
    x = torch.ones(2, dtype=torch.bfloat16)
    with pytest.raises(TypeError) as te:
        x.numpy()
    with pytest.raises(TypeError) as ee:
        ember.ones(2, dtype=ember.bfloat16).numpy()
    assert str(ee.value) == str(te.value)
    assert ember.ones(2, dtype=ember.bfloat16).numpy(force=True).dtype.name == "bfloat16"


def test_assert_close_and_state_dicts_take_bfloat16():
    a = ember.tensor([1.0, 1.01]).bfloat16()
    for L in (ember, torch):          # bfloat16's default tolerance: rtol 1.6e-2, atol 1e-5
        L.testing.assert_close(L.tensor([1.0, 1.01]).bfloat16(), L.tensor([1.0, 1.0]).bfloat16())
        with pytest.raises(AssertionError, match="not close"):
            L.testing.assert_close(L.tensor([1.0, 1.01]).bfloat16(), L.tensor([1.0, 1.05]).bfloat16())
    assert ember.tensor(a, dtype=ember.float32).tolist() == [1.0, 1.0078125]
    m = ember.nn.Linear(2, 2)
    m.load_state_dict({k: v.bfloat16() for k, v in m.state_dict().items()})
    assert m.weight.dtype is ember.float32     # (copied into the float32 parameters, as torch)


def test_finfo():
    e, t = ember.finfo(ember.bfloat16), torch.finfo(torch.bfloat16)
    for k in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(e, k) == getattr(t, k), k
    assert e.dtype == "bfloat16"


def test_type_promotion_as_torch():
    pairs = [("bfloat16", "float16"), ("bfloat16", "float32"), ("bfloat16", "float64"),
             ("bfloat16", "int64"), ("bfloat16", "bool"), ("uint8", "bfloat16")]
    for a, b in pairs:
        assert _dtype_name(ember.promote_types(getattr(ember, a), getattr(ember, b))) == \
            _dtype_name(torch.promote_types(getattr(torch, a), getattr(torch, b)))
    for make in (lambda L: L.ones(2, dtype=L.bfloat16) + L.ones(2, dtype=L.float16),
                 lambda L: L.ones(2, dtype=L.bfloat16) * L.ones(2),
                 lambda L: L.ones(2, dtype=L.bfloat16) + 2.5,
                 lambda L: L.ones(2, dtype=L.bfloat16) * 3,
                 lambda L: L.ones(2, dtype=L.int64) + L.ones(2, dtype=L.bfloat16),
                 lambda L: L.ones(2, dtype=L.bfloat16) + L.tensor(2.5),        # 0-d float32
                 lambda L: L.tensor(2.5, dtype=L.bfloat16) + L.ones(2, dtype=L.int32),
                 lambda L: L.ones(3, dtype=L.bfloat16).sum(dtype=L.float32),
                 lambda L: L.softmax(L.ones(3, dtype=L.bfloat16), 0, dtype=L.float32)):
        e, t = make(ember), make(torch)
        assert _dtype_name(e.dtype) == _dtype_name(t.dtype)
        np.testing.assert_array_equal(_np(e), _np(t))
    assert ember.can_cast(ember.bfloat16, ember.float16) and not ember.can_cast(ember.bfloat16, ember.int32)


def test_mixed_precision_grads_flow_in_each_dtype():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    out = {}
    for L in (ember, torch):
        wf = L.tensor(w, requires_grad=True)             # a float32 master weight
        xb = L.tensor(x).to(L.bfloat16).requires_grad_()  # a bfloat16 leaf
        y = (xb @ wf.to(L.bfloat16)).float().pow(2).sum()
        y.backward()
        out[L] = (wf.grad, xb.grad, y)
    (gwe, gxe, ye), (gwt, gxt, yt) = out[ember], out[torch]
    assert gwe.dtype is ember.float32 and gxe.dtype is ember.bfloat16
    np.testing.assert_array_equal(_np(ye), _np(yt))
    np.testing.assert_array_equal(_np(gxe), _np(gxt))
    np.testing.assert_array_equal(_np(gwe), _np(gwt))


def test_inplace_views_and_version_checks():
    x = ember.tensor([1.0, 2.0, 3.0, 4.0]).bfloat16()
    v = x[1:3]
    v.mul_(1.3)                                  # a view shares the bfloat16 memory
    t = torch.tensor([1.0, 2.0, 3.0, 4.0]).bfloat16()
    t[1:3].mul_(1.3)
    np.testing.assert_array_equal(_np(x), _np(t))
    x.add_(ember.tensor([0.1, 0.2, 0.3, 0.4]))   # float32 operand, bfloat16 result in place
    t.add_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    np.testing.assert_array_equal(_np(x), _np(t))
    x.mul_(1.37).sub_(0.1).div_(3.3)             # Python numbers: as torch, rounding once each
    t.mul_(1.37).sub_(0.1).div_(3.3)
    np.testing.assert_array_equal(_np(x), _np(t))
    a = ember.ones(3, dtype=ember.bfloat16, requires_grad=True)
    y = a.exp()
    z = y * 2
    y.add_(1)                                    # exp saved its output: backward refuses
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_bfloat16_model_training_step_matches_torch():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((8, 6)).astype(np.float32)
    Y = rng.integers(0, 3, 8)
    params = [rng.standard_normal(s).astype(np.float32) * 0.4 for s in ((16, 6), (16,), (3, 16), (3,))]
    losses = {}
    for L in (ember, torch):
        m = L.nn.Sequential(L.nn.Linear(6, 16), L.nn.Tanh(), L.nn.Linear(16, 3))
        with L.no_grad():
            for p, a in zip(m.parameters(), params):
                p.copy_(L.tensor(a))
        m = m.bfloat16()
        opt = L.optim.SGD(m.parameters(), lr=0.1)
        x, y = L.tensor(X).bfloat16(), L.tensor(Y)
        ls = []
        for _ in range(3):
            opt.zero_grad()
            loss = L.nn.functional.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            ls.append(loss.item())
        losses[L] = ls
        assert _dtype_name(m[0].weight.grad.dtype) == "bfloat16"
    np.testing.assert_allclose(losses[ember], losses[torch], rtol=RTOL)


def test_safetensors_bf16_from_torch_loads_as_bfloat16(tmp_path):
    from safetensors.torch import save_file, load_file
    ts = {"w": torch.randn(3, 4).bfloat16(), "b": torch.randn(4), "h": torch.randn(2).half()}
    save_file(ts, str(tmp_path / "t.safetensors"))
    es = ember.serialization.load_safetensors(tmp_path / "t.safetensors")
    for k, t in ts.items():
        assert _dtype_name(es[k].dtype) == _dtype_name(t.dtype)
        np.testing.assert_array_equal(_np(es[k]), _np(t))
    ember.serialization.save_safetensors(es, str(tmp_path / "e.safetensors"))
    back = load_file(str(tmp_path / "e.safetensors"))
    for k, t in ts.items():
        assert back[k].dtype == t.dtype and torch.equal(back[k], t)


def test_ember_format_keeps_bfloat16(tmp_path):
    x = ember.randn(3, 5).bfloat16()
    ember.save({"x": x, "rows": [x[0]]}, tmp_path / "x.pt")
    r = ember.load(tmp_path / "x.pt")
    assert r["x"].dtype is ember.bfloat16 and r["x"].tolist() == x.tolist()
    assert r["rows"][0].dtype is ember.bfloat16


def test_transformers_bf16_checkpoint_loads(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=17, n_positions=8)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).to(torch.bfloat16)
    model.save_pretrained(tmp_path, safe_serialization=True)
    sd = ember.serialization.load_safetensors(tmp_path / "model.safetensors")
    ref = model.state_dict()
    assert sd and all(k in ref for k in sd)
    for k, v in sd.items():
        assert v.dtype is ember.bfloat16, k
        np.testing.assert_array_equal(_np(v), _np(ref[k]))


@pytest.mark.guard_skip      # (a fresh process, on the CPU)
def test_import_without_ml_dtypes_says_what_to_install():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ml_dtypes' or name.startswith('ml_dtypes.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import ember\n"
        "assert repr(ember.bfloat16) == 'ember.bfloat16'\n"
        "assert (ember.ones(2) * 2).tolist() == [2.0, 2.0]\n"
        "try:\n"
        "    ember.zeros(2, dtype=ember.bfloat16)\n"
        "except ImportError as e:\n"
        "    assert 'pip install ml_dtypes' in str(e), e\n"
        "    print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__))))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.stdout.strip() == "ok", r.stderr
