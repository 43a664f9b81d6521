"""ember.autocast and ember.amp.GradScaler against torch 2.13's on the CPU."""
import threading
import warnings

import numpy as np
import pytest
import torch

import ember

pytest.importorskip("ml_dtypes")


def _np(t):
    return t.detach().float().numpy()


def _name(dt):
    return str(dt).split(".")[-1]


# (function, input shapes): each runs under autocast("cpu", bfloat16) on float32 leaves
CASES = {
    # torch's lower-precision list: bfloat16 results
    "linear": (lambda L, F, x, w, b: F.linear(x, w, b), [(4, 5), (3, 5), (3,)]),
    "matmul": (lambda L, F, x, y: x @ y, [(4, 5), (5, 3)]),
    "mm": (lambda L, F, x, y: L.mm(x, y), [(4, 5), (5, 3)]),
    "bmm": (lambda L, F, x, y: L.bmm(x, y), [(2, 4, 5), (2, 5, 3)]),
    "addmm": (lambda L, F, b, x, y: L.addmm(b, x, y), [(4, 3), (4, 5), (5, 3)]),
    "baddbmm": (lambda L, F, b, x, y: L.baddbmm(b, x, y), [(2, 4, 3), (2, 4, 5), (2, 5, 3)]),
    "addbmm": (lambda L, F, b, x, y: L.addbmm(b, x, y), [(4, 3), (2, 4, 5), (2, 5, 3)]),
    "conv1d": (lambda L, F, x, w: F.conv1d(x, w), [(2, 3, 8), (4, 3, 3)]),
    "conv2d": (lambda L, F, x, w, b: F.conv2d(x, w, b, padding=1), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    "conv3d": (lambda L, F, x, w: F.conv3d(x, w), [(1, 2, 4, 4, 4), (3, 2, 2, 2, 2)]),
    "conv_transpose1d": (lambda L, F, x, w: F.conv_transpose1d(x, w), [(2, 3, 5), (3, 4, 3)]),
    "conv_transpose2d": (lambda L, F, x, w: F.conv_transpose2d(x, w), [(2, 3, 5, 5), (3, 4, 3, 3)]),
    "prelu": (lambda L, F, x, w: F.prelu(x, w), [(4, 5), (1,)]),
    "sdpa": (lambda L, F, q, k, v: F.scaled_dot_product_attention(q, k, v), [(1, 2, 4, 8)] * 3),
    "vecdot": (lambda L, F, x, y: L.linalg.vecdot(x, y), [(4, 5), (4, 5)]),
    "module_linear": (lambda L, F, x: _linear(L)(x), [(4, 5)]),
    # torch's float32 list: float32 results from bfloat16 inputs
    "mse_loss": (lambda L, F, x, y: F.mse_loss(x @ y, x @ y * 0.5), [(4, 5), (5, 3)]),
    "l1_loss": (lambda L, F, x, y: F.l1_loss(x @ y, x @ y * 2), [(4, 5), (5, 3)]),
    "smooth_l1_loss": (lambda L, F, x, y: F.smooth_l1_loss(x @ y, x @ y * 2), [(4, 5), (5, 3)]),
    "cross_entropy": (lambda L, F, x, y: F.cross_entropy(x @ y, L.tensor([0, 1, 2, 0])),
                      [(4, 5), (5, 3)]),
    "nll_loss": (lambda L, F, x, y: F.nll_loss(x @ y, L.tensor([0, 1, 2, 0])), [(4, 5), (5, 3)]),
    "bce_with_logits": (lambda L, F, x, y: F.binary_cross_entropy_with_logits(
        x @ y, (x @ y).sigmoid()), [(4, 5), (5, 3)]),
    "kl_div": (lambda L, F, x, y: F.kl_div(x @ y, (x @ y).softmax(-1), reduction="batchmean"),
               [(4, 5), (5, 3)]),
    "prod": (lambda L, F, x, y: (x @ y).prod(), [(4, 5), (5, 3)]),
    "trace": (lambda L, F, x, y: L.trace(x @ y), [(3, 5), (5, 3)]),
    "avg_pool3d": (lambda L, F, x, w: F.avg_pool3d(F.conv3d(x, w), 2), [(1, 2, 4, 4, 4), (2, 2, 1, 1, 1)]),
    # on neither list: they run in what they are given
    "relu": (lambda L, F, x, y: F.relu(x @ y), [(4, 5), (5, 3)]),
    "softmax": (lambda L, F, x, y: F.softmax(x @ y, -1), [(4, 5), (5, 3)]),
    "layer_norm": (lambda L, F, x, y: F.layer_norm(x @ y, (16,)), [(4, 5), (5, 16)]),
    "sum": (lambda L, F, x, y: (x @ y).sum(), [(4, 5), (5, 3)]),
    "add_promotes": (lambda L, F, x, y, z: x @ y + z, [(4, 5), (5, 3), (3,)]),
    "float64_untouched": (lambda L, F, x, y: x.double() @ y.double(), [(4, 5), (5, 3)]),
}


def _linear(L):
    L.manual_seed(0)
    m = L.nn.Linear(5, 3)
    with L.no_grad():
        m.weight.copy_(L.tensor(np.linspace(-1, 1, 15, dtype=np.float32).reshape(3, 5)))
        m.bias.fill_(0.25)
    return m


def _run(L, fn, arrays):
    ts = [L.tensor(a, requires_grad=True) for a in arrays]
    with L.autocast("cpu", dtype=L.bfloat16):
        out = fn(L, L.nn.functional, *ts)
    # a fixed random upstream gradient (a plain sum's gradient through layer_norm is 0)
    g = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(np.float32)
    (out.float() * L.tensor(g)).sum().backward()
    return out, ts


@pytest.mark.parametrize("name", sorted(CASES))
def test_autocast_op_dtypes_values_and_grads(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    oe, es = _run(ember, fn, arrays)
    ot, ts = _run(torch, fn, arrays)
    assert _name(oe.dtype) == _name(ot.dtype)
    if name in ("addbmm", "sdpa", "bce_with_logits", "kl_div"):
        # (torch sums the batch / the softmax in another order: one bfloat16 step apart)
        np.testing.assert_allclose(_np(oe), _np(ot), rtol=1.6e-2, atol=1e-3)
    elif name.startswith("conv_transpose"):
        # torch's bfloat16 transposed convolutions round once (as Ember does) on
        # CPUs with AVX-512; on AVX2 ones they round partial sums too: values
        # that cancel are a bfloat16 step of the output's scale apart
        atol = float(np.abs(_np(ot)).max()) * 2.0 ** -7
        np.testing.assert_allclose(_np(oe), _np(ot), rtol=1.6e-2, atol=atol)
        # Ember's: the exact result on the bfloat16 inputs, rounded once
        exact = fn(torch, torch.nn.functional,
                   *(torch.tensor(a).bfloat16().double() for a in arrays))
        np.testing.assert_array_equal(_np(oe), _np(exact.bfloat16()))
    else:
        np.testing.assert_array_equal(_np(oe), _np(ot))
    for e, t in zip(es, ts):
        assert e.grad.dtype is ember.float32 and t.grad.dtype is torch.float32
        atol = max(1e-5, float(np.abs(_np(t.grad)).max()) * 2.0 ** -7)
        np.testing.assert_allclose(_np(e.grad), _np(t.grad), rtol=1.6e-2, atol=atol)


def test_state_nesting_and_enabled_false():
    for L in (ember, torch):
        assert not L.is_autocast_enabled("cpu") and not L.is_autocast_enabled()
        assert L.get_autocast_dtype("cpu") is L.bfloat16
        x = L.ones(2, 2)
        with L.autocast("cpu"):
            assert L.is_autocast_enabled("cpu") and not L.is_autocast_enabled()
            assert (x @ x).dtype is L.bfloat16
            with L.autocast("cpu", enabled=False):
                assert not L.is_autocast_enabled("cpu")
                assert (x @ x).dtype is L.float32
            with L.autocast("cpu", dtype=L.float16):
                assert L.get_autocast_dtype("cpu") is L.float16
                assert (x @ x).dtype is L.float16
            assert L.get_autocast_dtype("cpu") is L.bfloat16
            assert (x @ x).dtype is L.bfloat16
        assert not L.is_autocast_enabled("cpu")
        assert (x @ x).dtype is L.float32

        @L.autocast("cpu")
        def f(a):
            return a @ a
        assert f(x).dtype is L.bfloat16 and (x @ x).dtype is L.float32
        with pytest.warns(FutureWarning):
            with L.cpu.amp.autocast():
                assert (x @ x).dtype is L.bfloat16


def test_unsupported_dtype_and_device_type_as_torch():
    for L in (ember, torch):
        with pytest.warns(UserWarning, match="CPU Autocast only supports"):
            with L.autocast("cpu", dtype=L.float32):
                assert not L.is_autocast_enabled("cpu")
        with pytest.raises(RuntimeError, match="device type at start of device string: xyz"):
            L.autocast("xyz")
        with pytest.raises(TypeError):
            L.get_autocast_dtype()


def test_autocast_state_is_per_thread():
    seen = {}

    def other():
        x = ember.ones(2, 2)
        seen["enabled"] = ember.is_autocast_enabled("cpu")
        seen["dtype"] = (x @ x).dtype

    with ember.autocast("cpu"):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert (ember.ones(2, 2) @ ember.ones(2, 2)).dtype is ember.bfloat16
    assert seen == {"enabled": False, "dtype": ember.float32}


def test_exception_inside_restores_state():
    with pytest.raises(ValueError):
        with ember.autocast("cpu"):
            raise ValueError("boom")
    assert not ember.is_autocast_enabled("cpu")
    assert (ember.ones(2, 2) @ ember.ones(2, 2)).dtype is ember.float32


# ---- GradScaler ------------------------------------------------------------------------

def _mlp_run(L, steps=5, inf_at=2):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 8)).astype(np.float32)
    Y = rng.integers(0, 4, 16)
    init = [rng.standard_normal((32, 8)).astype(np.float32) * 0.3, np.zeros(32, np.float32),
            rng.standard_normal((4, 32)).astype(np.float32) * 0.3, np.zeros(4, np.float32)]
    m = L.nn.Sequential(L.nn.Linear(8, 32), L.nn.ReLU(), L.nn.Linear(32, 4))
    with L.no_grad():
        for p, a in zip(m.parameters(), init):
            p.copy_(L.tensor(a))
    opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    scaler = L.amp.GradScaler("cpu", init_scale=2.0 ** 16, growth_interval=2)
    x, y = L.tensor(X), L.tensor(Y)
    losses, scales, stepped = [], [], []
    for i in range(steps):
        opt.zero_grad()
        with L.autocast("cpu", dtype=L.bfloat16):
            loss = L.nn.functional.cross_entropy(m(x), y)
        assert loss.dtype is L.float32
        scaler.scale(loss).backward()
        if i == inf_at:
            m[0].weight.grad[0, 0] = float("inf")     # this step must be skipped
        before = m[2].bias.detach().clone()
        scaler.step(opt)
        stepped.append(not bool((m[2].bias == before).all()))
        scaler.update()
        losses.append(loss.item())
        scales.append(scaler.get_scale())
    return losses, scales, stepped, [_np(p) for p in m.parameters()], scaler.state_dict()


def test_mlp_training_under_autocast_and_grad_scaler_matches_torch():
    le, se, ste, pe, de = _mlp_run(ember)
    lt, st, stt, pt, dt = _mlp_run(torch)
    assert le == lt
    assert se == st == [65536.0, 131072.0, 65536.0, 65536.0, 131072.0]
    assert ste == stt == [True, True, False, True, True]
    assert de == dt
    for a, b in zip(pe, pt):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_grad_scaler_api_as_torch():
    for L in (ember, torch):
        w = L.nn.Parameter(L.tensor([1.0, 2.0]))
        opt = L.optim.SGD([w], lr=1.0)
        s = L.amp.GradScaler("cpu", init_scale=4.0, growth_factor=3.0, backoff_factor=0.25,
                             growth_interval=1)
        assert s.get_scale() == 4.0 and s.is_enabled()
        out = s.scale([w.sum(), (w * 2).sum()])
        assert isinstance(out, list) and out[0].item() == 12.0
        out[0].backward()
        s.unscale_(opt)
        assert w.grad.tolist() == [1.0, 1.0]
        with pytest.raises(RuntimeError, match="already been called"):
            s.unscale_(opt)
        s.step(opt)
        with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step"):
            s.unscale_(opt)
        s.update()
        assert s.get_scale() == 12.0
        s.update(2.0)
        assert s.get_scale() == 2.0
        s.update(L.tensor(5.0))
        assert s.get_scale() == 5.0
        sd = s.state_dict()
        assert sd == {"scale": 5.0, "growth_factor": 3.0, "backoff_factor": 0.25,
                      "growth_interval": 1, "_growth_tracker": 0}
        s2 = L.amp.GradScaler("cpu")
        s2.load_state_dict(sd)
        assert s2.state_dict() == sd
        with pytest.raises(RuntimeError, match="source state dict is empty"):
            s2.load_state_dict({})
        with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
            s2.step(opt, closure=lambda: 0)


def test_disabled_grad_scaler_passes_through():
    for L in (ember, torch):
        w = L.nn.Parameter(L.tensor([1.0, 2.0]))
        opt = L.optim.SGD([w], lr=0.5)
        s = L.amp.GradScaler("cpu", enabled=False)
        loss = w.sum()
        assert s.scale(loss) is loss
        loss.backward()
        s.unscale_(opt)
        s.step(opt)
        s.update()
        assert w.tolist() == [0.5, 1.5]
        assert s.get_scale() == 1.0 and s.state_dict() == {}
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            c = L.cuda.amp.GradScaler()        # no CUDA: torch warns and turns it off
        assert not c.is_enabled()
        assert any("CUDA is not available" in str(r.message) for r in rec)
    from ember.cuda.amp import GradScaler, autocast      # (torch's old import spelling)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        assert not GradScaler().is_enabled()
    with pytest.warns(UserWarning):
        with autocast():
            assert not ember.is_autocast_enabled("cuda")
