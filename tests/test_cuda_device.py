"""The CUDA device API: device numbers, moves, factories, modules, optimizers,
save/load, mixing errors, random numbers, ``ember.cuda``.

Each test taking ``cuda`` runs on the real GPU when ``ember.cuda.is_available()``
(CuPy and a device), else on the fake CUDA backend of tests/fake_cuda.py, which
is registered as "cuda" for that test only.  Errors are compared with what
torch raises (torch's CPU build where it can show them, its documented text
where only a GPU build can); results are compared with the same computation on
the CPU.  Tests needing the real device (memory, events, device properties)
skip with a reason here.
"""
import io
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import fake_cuda

@pytest.fixture
def cuda():
    """'real' on a GPU, else 'fake' with the stand-in registered for this test."""
    with fake_cuda.cuda_device() as kind:
        yield kind


@pytest.fixture
def no_cuda():
    if fake_cuda.real_gpu():
        pytest.skip("a CUDA device is present: the no-CUDA answers cannot be seen")
    assert ember.backends.get("cuda") is None
    ember.set_default_device(None)


def _real_only(cuda):
    if cuda != "real":
        pytest.skip("needs a real GPU (CuPy's memory pool, events and device properties); "
                    "the fake device has none")


def close(a, b, tol=1e-5):
    a = a.detach().cpu().numpy() if isinstance(a, ember.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, ember.Tensor) else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ---- without CUDA: what a CPU-only torch answers ------------------------------------

def test_import_never_imports_cupy():
    code = "import sys, ember; assert 'cupy' not in sys.modules, 'import ember imported cupy'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_cuda_answers_as_cpu_only_torch(no_cuda):
    assert ember.cuda.is_available() is torch.cuda.is_available() is False
    assert ember.cuda.device_count() == torch.cuda.device_count() == 0
    for name in ("memory_allocated", "max_memory_allocated", "memory_reserved"):
        assert getattr(ember.cuda, name)() == getattr(torch.cuda, name)() == 0
    for name in ("manual_seed", "manual_seed_all"):
        assert getattr(ember.cuda, name)(3) is getattr(torch.cuda, name)(3) is None
    assert ember.cuda.seed() is torch.cuda.seed() is None
    assert ember.cuda.empty_cache() is torch.cuda.empty_cache() is None
    assert ember.cuda.is_bf16_supported() is torch.cuda.is_bf16_supported() is False
    for name in ("current_device", "synchronize", "initial_seed", "get_device_name",
                 "get_device_properties"):
        with pytest.raises(AssertionError):
            getattr(torch.cuda, name)()
        with pytest.raises(AssertionError, match="not available"):
            getattr(ember.cuda, name)()


@pytest.mark.parametrize("make", [
    lambda m: m.zeros(2, device="cuda"),
    lambda m: m.zeros(2, device="cuda:1"),
    lambda m: m.zeros(2).cuda(),
    lambda m: m.zeros(2).to("cuda"),
    lambda m: m.zeros(2).to(m.device("cuda"), non_blocking=True),
    lambda m: m.randn(2, device="cuda"),
])
def test_without_cuda_asking_for_it_raises_torchs_assertion(no_cuda, make):
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        make(torch)
    with pytest.raises(AssertionError, match="is not available") as e:
        make(ember)
    assert isinstance(e.value, RuntimeError)


def test_without_cuda_device_numbers_and_streams_raise_as_torch(no_cuda):
    for m in (torch, ember):
        with pytest.raises(RuntimeError, match="^Cannot access accelerator device when none is "
                                               "available.$"):
            m.device(0)
        with pytest.raises(RuntimeError):
            m.cuda.Stream()
        with pytest.raises(RuntimeError):
            m.cuda.Event(enable_timing=True)
    assert ember.device("cuda", 0) == ember.device("cuda:0")   # (naming it is fine)


def test_device_objects_as_torch():
    for m in (torch, ember):
        with pytest.raises(RuntimeError, match="Device index must not be negative"):
            m.device("cuda", -1)
        with pytest.raises(RuntimeError, match="Invalid device string: 'cuda:x'"):
            m.device("cuda:x")
        assert repr(m.device("cuda", 1)) == "device(type='cuda', index=1)"
        assert str(m.device("cuda:1")) == "cuda:1"
        assert m.device("cuda") != m.device("cuda:0")


# ---- device numbers ---------------------------------------------------------------------

def test_cuda_tensor_device_is_numbered(cuda):
    for dev in ("cuda", "cuda:0", 0, ember.device("cuda"), ember.device("cuda", 0)):
        t = ember.zeros(2, device=dev)
        assert t.device == ember.device(type="cuda", index=0)
        assert repr(t.device) == "device(type='cuda', index=0)"
        assert t.is_cuda and not t.is_cpu and t.get_device() == 0
    assert ember.device(0) == ember.device("cuda:0")
    assert ember.zeros(1).get_device() == -1


def test_device_number_past_the_count_raises(cuda):
    n = ember.cuda.device_count()
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        ember.zeros(1, device=f"cuda:{n}")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        ember.zeros(1).cuda(n)


def test_cuda_module_device_api(cuda):
    assert ember.cuda.is_available() and ember.cuda.device_count() >= 1
    assert ember.cuda.current_device() == 0
    ember.cuda.set_device(0)
    with ember.cuda.device(0):
        assert ember.cuda.current_device() == 0
    ember.cuda.synchronize()
    ember.cuda.synchronize(0)
    ember.cuda.manual_seed(5)
    assert ember.cuda.initial_seed() == 5
    with pytest.raises(ValueError, match="Expected a cuda device"):
        ember.cuda.synchronize("cpu")


# ---- moving data ----------------------------------------------------------------------

def test_moves_copy_and_keep_values(cuda):
    x = ember.randn(3, 4)
    for g in (x.cuda(), x.cuda(0), x.cuda("cuda:0"), x.to("cuda"), x.to(ember.device("cuda")),
              x.to("cuda", non_blocking=True), x.to(device="cuda", dtype=ember.float64)):
        assert g.is_cuda
        close(g, x)
    g = x.cuda()
    assert g.cuda() is g and g.to("cuda") is g and g.to("cuda:0") is g
    assert g.to("cuda", copy=True) is not g
    assert g.to(ember.float64).dtype == ember.float64 and g.to(ember.float64).is_cuda
    assert x.to(g).is_cuda and g.to(x).device.type == "cpu"        # to(other): device and dtype
    c = g.cpu()
    assert c.device == ember.device("cpu")
    c.add_(1)
    close(g, x)                                 # (a copy: the device tensor is unchanged)
    with pytest.raises(RuntimeError, match="Invalid device, must be cuda device"):
        x.cuda("cpu")
    assert x.pin_memory() is x and x.is_pinned() is False


def test_copy_between_devices(cuda):
    g = ember.zeros(3, device="cuda")
    g.copy_(ember.tensor([1.0, 2.0, 3.0]))                   # (torch's copy_ crosses devices)
    assert g.is_cuda and g.tolist() == [1.0, 2.0, 3.0]
    c = ember.zeros(3)
    c.copy_(g * 2)
    assert c.tolist() == [2.0, 4.0, 6.0]
    x = ember.randn(3, requires_grad=True)
    y = ember.zeros(3, device="cuda").requires_grad_().clone()
    y.copy_(x)
    (y * 3).sum().backward()
    assert x.grad.device.type == "cpu"
    close(x.grad, [3.0, 3.0, 3.0])


def test_numpy_item_tolist(cuda):
    g = ember.tensor([[1.5, 2.0]], device="cuda")
    with pytest.raises(TypeError, match=r"^can't convert cuda:0 device type tensor to numpy. Use "
                                        r"Tensor.cpu\(\) to copy the tensor to host memory first.$"):
        g.numpy()
    assert g.tolist() == [[1.5, 2.0]]
    assert g[0, 1].item() == 2.0 and g.sum().item() == 3.5
    assert float(g[0, 0]) == 1.5


def test_autograd_across_moves(cuda):
    x = ember.randn(3, 4, requires_grad=True)
    g = x.to("cuda")
    assert g.grad_fn.name() == "ToCopyBackward0"
    y = (g * g).sum()
    y.backward()
    assert x.grad.device.type == "cpu"
    close(x.grad, 2 * x)
    w = ember.randn(4, device="cuda", requires_grad=True)
    (w.cpu() * 3).sum().backward()
    assert w.grad.is_cuda
    close(w.grad, ember.full((4,), 3.0))


def test_factories_take_device(cuda):
    makers = {
        "zeros": lambda d: ember.zeros(2, 3, device=d),
        "ones": lambda d: ember.ones(2, device=d),
        "empty": lambda d: ember.empty(2, device=d),
        "full": lambda d: ember.full((2,), 7.0, device=d),
        "rand": lambda d: ember.rand(2, device=d),
        "randn": lambda d: ember.randn(2, device=d),
        "randint": lambda d: ember.randint(0, 5, (3,), device=d),
        "arange": lambda d: ember.arange(5, device=d),
        "arange_float": lambda d: ember.arange(0, 1, 0.25, device=d),
        "linspace": lambda d: ember.linspace(0, 1, 5, device=d),
        "eye": lambda d: ember.eye(3, device=d),
        "tensor": lambda d: ember.tensor([1, 2], device=d),
        "as_tensor": lambda d: ember.as_tensor(np.ones(2), device=d),
        "normal": lambda d: ember.normal(0.0, 1.0, (2,), device=d),
        "scalar_tensor": lambda d: ember.scalar_tensor(2.0, device=d),
    }
    for name, make in makers.items():
        t = make("cuda")
        assert t.is_cuda, name
        assert t.dtype == make("cpu").dtype, name
    close(ember.arange(5, device="cuda"), np.arange(5))
    close(ember.eye(3, device="cuda"), np.eye(3))
    g = ember.randn(2, 3, device="cuda")
    for like in (ember.zeros_like, ember.ones_like, ember.empty_like, ember.rand_like,
                 ember.randn_like):
        assert like(g).is_cuda and like(g, device="cpu").device.type == "cpu"
    assert ember.full_like(g, 2.0).is_cuda and ember.randint_like(g, 3).is_cuda
    assert g.new_zeros(2).is_cuda and g.new_tensor([1.0]).is_cuda and g.new_ones(1).is_cuda
    # (torch.tensor of a tensor copies it on its own device unless device= says otherwise)
    assert ember.tensor(g).is_cuda and ember.tensor(g, device="cpu").device.type == "cpu"


def test_default_device(cuda):
    ember.set_default_device("cuda")
    try:
        assert ember.get_default_device() == ember.device("cuda", 0)
        assert ember.zeros(2).is_cuda and ember.randn(2).is_cuda and ember.tensor([1]).is_cuda
        assert ember.zeros(2, device="cpu").device.type == "cpu"
        assert nn.Linear(2, 3).weight.is_cuda
    finally:
        ember.set_default_device(None)
    assert not ember.zeros(2).is_cuda


# ---- mixing devices ---------------------------------------------------------------------

MIXED = {
    "add": lambda g, c: g + c,
    "reflected": lambda g, c: c * g,
    "recorded": lambda g, c: g.detach().requires_grad_() * c,
    "matmul": lambda g, c: g.reshape(3, 1) @ c.reshape(1, 3),
    "cat": lambda g, c: ember.cat([g, c]),
    "where": lambda g, c: ember.where(g > 0, g, c),
    "linear": lambda g, c: nn.functional.linear(c.reshape(1, 3), g.reshape(1, 3)),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_mixing_devices_raises_torchs_error(cuda, name):
    g = ember.randn(3, device="cuda")
    c = ember.randn(3)
    with pytest.raises(RuntimeError, match=r"^Expected all tensors to be on the same device, but "
                                           r"found at least two devices, (cuda:0 and cpu|cpu and "
                                           r"cuda:0)!$"):
        MIXED[name](g, c)


def test_cpu_indices_index_a_cuda_tensor(cuda):
    # torch copies CPU index tensors to the indexed tensor's device (reading,
    # writing, gradients); an index on CUDA may not index a CPU tensor.
    x = ember.arange(12.0).view(3, 4).cuda().requires_grad_()
    rows, cols = ember.tensor([2, 0]), ember.tensor([1, 3])
    y = x[rows, cols]
    assert y.device == ember.device("cuda", 0)
    close(y, [9.0, 3.0])
    assert x[ember.tensor([0, 2])].device.type == "cuda"
    y.sum().backward()
    close(x.grad, [[0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0]])
    z = ember.zeros(5, device="cuda")
    z[ember.tensor([1, 3])] = 2.0
    close(z, [0, 2, 0, 2, 0])
    with pytest.raises(RuntimeError, match=r"^indices should be either on cpu or on the same "
                                           r"device as the indexed tensor \(cpu\)$"):
        ember.arange(5.0)[ember.tensor([1, 2], device="cuda")]


def test_zero_dim_cpu_tensor_joins_a_cuda_op(cuda):
    g = ember.randn(3, device="cuda", requires_grad=True)
    s = ember.tensor(2.0, requires_grad=True)
    y = g * s + ember.tensor(1.0)
    assert y.is_cuda
    close(y, g.detach().cpu() * 2 + 1)
    y.sum().backward()
    assert s.grad.device.type == "cpu" and g.grad.is_cuda
    close(s.grad, g.detach().cpu().sum())
    with ember.no_grad():
        assert (s * g).is_cuda and ember.maximum(g, ember.tensor(0.0)).is_cuda


# ---- modules and optimizers -------------------------------------------------------------

def _model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def test_module_to_cuda_and_back(cuda):
    m = _model()
    w = m[0].weight
    m(ember.randn(5, 4)).sum().backward()
    assert m.to("cuda") is m and m[0].weight is w             # (parameters keep identity)
    assert all(p.is_cuda for p in m.parameters()) and all(b.is_cuda for b in m.buffers())
    assert w.grad.is_cuda and isinstance(w, nn.Parameter)
    m.cpu()
    assert not any(p.is_cuda for p in m.parameters()) and not w.grad.is_cuda
    m.cuda()
    assert all(p.is_cuda for p in m.parameters())
    m.to("cuda", ember.float64)
    assert m[0].weight.dtype == ember.float64 and m[0].weight.is_cuda


@pytest.mark.parametrize("make_opt", [
    lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: ember.optim.Adam(ps, lr=0.01),
    lambda ps: ember.optim.AdamW(ps, lr=0.01),
], ids=["sgd", "adam", "adamw"])
def test_training_on_cuda_matches_cpu(cuda, make_opt):
    ember.manual_seed(1)
    x, y = ember.randn(6, 4), ember.randint(0, 2, (6,))
    losses = {}
    for where in ("cpu", "cuda"):
        m = _model().to(where)
        opt = make_opt(m.parameters())
        xs, ys = x.to(where), y.to(where)
        out = []
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(m(xs), ys)
            loss.backward()
            opt.step()
            out.append(loss.item())
        for p in m.parameters():
            for v in opt.state[p].values():
                if isinstance(v, ember.Tensor) and v.dim() > 0:
                    assert v.device.type == where, "optimizer state not with its parameter"
        losses[where] = out
        if where == "cuda":
            assert all(p.is_cuda for p in m.parameters())
    close(losses["cuda"], losses["cpu"], tol=1e-4)


def test_optimizer_state_follows_parameters_on_load_and_deepcopy(cuda):
    import copy
    m = _model().cuda()
    opt = ember.optim.Adam(m.parameters(), lr=0.01)
    nn.functional.cross_entropy(m(ember.randn(4, 4, device="cuda")),
                                ember.tensor([0, 1, 0, 1], device="cuda")).backward()
    opt.step()
    sd = ember.load(io.BytesIO(_saved(opt.state_dict())))
    assert sd["state"][0]["exp_avg"].is_cuda                  # (saved with its device)
    cpu_model = copy.deepcopy(m).cpu()
    assert m[0].weight.is_cuda and not cpu_model[0].weight.is_cuda
    close(cpu_model[0].weight, m[0].weight)
    opt2 = ember.optim.Adam(cpu_model.parameters(), lr=0.01)
    opt2.load_state_dict(sd)
    for p in cpu_model.parameters():
        assert opt2.state[p]["exp_avg"].device.type == "cpu"
    close(opt2.state[cpu_model[0].weight]["exp_avg"], opt.state[m[0].weight]["exp_avg"])


def test_step_counters_live_where_torch_keeps_them(cuda):
    # torch keeps 'step' (and NAdam's 'mu_product') on the CPU unless the group
    # is capturable or fused, and ASGD's counters on the parameter's device; a
    # loaded 'step' stays where it was saved unless capturable/fused.
    def stepped(make, **kw):
        p = nn.Parameter(ember.randn(3, device="cuda"))
        opt = make([p], lr=0.1, **kw)
        p.grad = ember.ones(3, device="cuda")
        opt.step()
        return p, opt
    for make in (ember.optim.Adam, ember.optim.AdamW, ember.optim.NAdam, ember.optim.RMSprop,
                 ember.optim.Adagrad, ember.optim.Rprop, ember.optim.Adamax):
        p, opt = stepped(make)
        st = opt.state[p]
        assert st["step"].device.type == "cpu" and st["step"].dtype == ember.float32, make
        assert float(st["step"]) == 1.0
    assert stepped(ember.optim.NAdam)[1].state_dict()["state"][0]["mu_product"].device.type \
        == "cpu"
    p, opt = stepped(ember.optim.Adam, capturable=True)
    assert opt.state[p]["step"].device.type == "cuda"
    p, opt = stepped(ember.optim.ASGD)
    assert opt.state[p]["step"].device.type == "cuda" and opt.state[p]["mu"].device.type == "cuda"
    # loading: 'step' stays on the CPU, the moments go to the parameters' device
    p, opt = stepped(ember.optim.Adam)
    sd = opt.state_dict()
    q = nn.Parameter(ember.randn(3, device="cuda"))
    opt2 = ember.optim.Adam([q], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.state[q]["step"].device.type == "cpu"
    assert opt2.state[q]["exp_avg"].device.type == "cuda"
    opt3 = ember.optim.Adam([q], lr=0.1, capturable=True)
    opt3.load_state_dict(ember.optim.Adam([q], lr=0.1, capturable=True).state_dict() | sd
                         | {"param_groups": [dict(sd["param_groups"][0], capturable=True)]})
    assert opt3.state[q]["step"].device.type == "cuda"


# ---- save and load ------------------------------------------------------------------------

def _saved(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def test_save_keeps_device_and_load_maps_it(cuda):
    m = nn.Linear(3, 2).cuda()
    raw = _saved({"model": m.state_dict(), "x": ember.arange(3.0, device="cuda"),
                  "c": ember.ones(2)})
    sd = ember.load(io.BytesIO(raw))
    assert sd["model"]["weight"].is_cuda and sd["x"].is_cuda and not sd["c"].is_cuda
    close(sd["model"]["weight"], m.weight)
    for loc in ("cpu", ember.device("cpu"), {"cuda:0": "cpu"}):
        out = ember.load(io.BytesIO(raw), map_location=loc)
        assert not out["x"].is_cuda and not out["model"]["bias"].is_cuda
        close(out["x"], [0.0, 1.0, 2.0])
    out = ember.load(io.BytesIO(raw), map_location="cuda")
    assert out["c"].is_cuda and out["x"].is_cuda
    seen = []
    out = ember.load(io.BytesIO(raw), map_location=lambda t, loc: seen.append(loc) or t)
    assert sorted(set(seen)) == ["cpu", "cuda:0"] and not out["x"].is_cuda
    out = ember.load(io.BytesIO(raw), map_location=lambda t, loc: None)   # (None: as saved)
    assert out["x"].is_cuda
    m2 = nn.Linear(3, 2).cuda()
    m2.load_state_dict(ember.load(io.BytesIO(raw), map_location="cpu")["model"])
    assert m2.weight.is_cuda
    close(m2.weight, m.weight)


def test_load_of_cuda_tensors_without_cuda_says_map_location(cuda):
    if cuda == "real":
        pytest.skip("needs a machine without CUDA")
    raw = _saved({"x": ember.ones(2, device="cuda")})
    fake_cuda.unregister()
    try:
        with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device "
                                               "but ember.cuda.is_available\\(\\) is False"):
            ember.load(io.BytesIO(raw))
        assert not ember.load(io.BytesIO(raw), map_location="cpu")["x"].is_cuda
    finally:
        fake_cuda.register()


# ---- random numbers --------------------------------------------------------------------

def test_cuda_random_numbers_follow_the_seeds(cuda):
    def draws():
        return [ember.randn(4, device="cuda").cpu(), ember.rand(3, device="cuda").cpu(),
                ember.randint(0, 100, (5,), device="cuda").cpu(),
                nn.functional.dropout(ember.ones(8, device="cuda"), 0.5).cpu(),
                ember.empty(3, device="cuda").normal_().cpu(),
                ember.empty(3, device="cuda").uniform_(2, 3).cpu()]
    ember.manual_seed(7)
    a = draws()
    ember.manual_seed(7)
    b = draws()
    for u, v in zip(a, b):
        assert ember.equal(u, v)
    ember.cuda.manual_seed(7)
    c = draws()
    ember.cuda.manual_seed_all(7)
    d = draws()
    for u, v in zip(c, d):
        assert ember.equal(u, v)
    ember.manual_seed(8)
    assert not ember.equal(draws()[0], a[0])
    u = a[5]
    assert bool(((u >= 2) & (u < 3)).all())
    assert ember.cuda.initial_seed() == 7 or ember.cuda.initial_seed() == 8


def test_cuda_draws_leave_the_cpu_stream_alone(cuda):
    ember.manual_seed(3)
    ref = ember.randn(4)
    ember.manual_seed(3)
    ember.randn(100, device="cuda")
    assert ember.equal(ember.randn(4), ref)


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpoint_replays_dropout_on_cuda(cuda, reentrant):
    from ember.utils.checkpoint import checkpoint
    lin = nn.Linear(16, 16).cuda()

    def segment(x):
        return nn.functional.dropout(lin(x), 0.5, training=True).tanh()
    x = ember.randn(8, 16, device="cuda", requires_grad=True)
    ember.manual_seed(11)
    y = checkpoint(segment, x, use_reentrant=reentrant)
    y.sum().backward()
    got = x.grad.clone()
    x.grad = None
    ember.manual_seed(11)
    with ember.random.host_draws():         # (the same masks, recorded plainly)
        segment(x).sum().backward()
    close(got, x.grad)


# ---- the real GPU only ----------------------------------------------------------------------

def test_memory_counters(cuda):
    _real_only(cuda)
    ember.cuda.synchronize()
    base = ember.cuda.memory_allocated()
    x = ember.empty(1 << 20, device="cuda")          # 4 MiB
    assert ember.cuda.memory_allocated() >= base + 4 * (1 << 20)
    peak = ember.cuda.max_memory_allocated()
    assert peak >= ember.cuda.memory_allocated()
    del x
    assert ember.cuda.max_memory_allocated() == peak
    ember.cuda.reset_peak_memory_stats()
    assert ember.cuda.max_memory_allocated() == ember.cuda.memory_allocated() < peak
    assert ember.cuda.memory_reserved() >= ember.cuda.memory_allocated()
    ember.cuda.empty_cache()


def test_device_properties_and_events(cuda):
    _real_only(cuda)
    p = ember.cuda.get_device_properties(0)
    assert p.total_memory > 0 and p.major >= 3 and ember.cuda.get_device_name() == p.name
    start, end = ember.cuda.Event(enable_timing=True), ember.cuda.Event(enable_timing=True)
    start.record()
    ember.randn(256, 256, device="cuda") @ ember.randn(256, 256, device="cuda")
    end.record()
    end.synchronize()
    assert start.elapsed_time(end) >= 0.0
    s = ember.cuda.Stream()
    with ember.cuda.stream(s):
        y = ember.ones(4, device="cuda") * 2
    s.synchronize()
    close(y, [2.0] * 4)
