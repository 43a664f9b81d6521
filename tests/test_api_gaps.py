"""Small pieces of torch's API that everyday programs reach for, each against torch:
Tensor.new_*, factories' ``size=``, spmm, the legacy tensor types, indexing with a
range, the is_<device> flags, the torch.backends / nn.parallel / accelerator
modules, compile, the deterministic flag, and retain_grad's place among hooks."""
import importlib
import os

import numpy as np
import pytest
import torch

import ember


# torch's CPU tensor types and the is_cpu flag describe CPU tensors: these tests
# do not apply when the suite runs on another device (EMBER_TEST_DEVICE=guard)
cpu_only = pytest.mark.skipif(os.environ.get("EMBER_TEST_DEVICE", "cpu") != "cpu",
                              reason="about CPU tensors")


def same(e, t):
    assert str(e.dtype).split(".")[1] == str(t.dtype).split(".")[1]
    assert tuple(e.shape) == tuple(t.shape)
    np.testing.assert_array_equal(e.numpy(force=True), t.numpy())


# ---- Tensor.new_* -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
@pytest.mark.parametrize("call", [
    lambda x: x.new_zeros(2, 3), lambda x: x.new_zeros((2, 3)), lambda x: x.new_zeros(size=(4,)),
    lambda x: x.new_ones([3]), lambda x: x.new_ones(2, 1, dtype=x.__class__ and None),
    lambda x: x.new_full((2, 2), 3), lambda x: x.new_full((2,), 1.5),
    lambda x: x.new_tensor([1, 2]), lambda x: x.new_tensor([[1.7, 0.0]]),
    lambda x: x.new_empty(2, 3).shape, lambda x: x.new_empty(size=(0,)).shape,
])
def test_new_factories_follow_the_tensor(dtype, call):
    e = call(ember.ones(2, dtype=getattr(ember, dtype)))
    t = call(torch.ones(2, dtype=getattr(torch, dtype)))
    if isinstance(t, torch.Size):
        assert tuple(e) == tuple(t)
    else:
        same(e, t)


def test_new_factories_dtype_and_grad_arguments():
    x, tx = ember.ones(2), torch.ones(2)
    same(x.new_zeros(2, dtype=ember.int64), tx.new_zeros(2, dtype=torch.int64))
    same(x.new_tensor([1, 2], dtype=ember.float64), tx.new_tensor([1, 2], dtype=torch.float64))
    assert x.new_ones(3, requires_grad=True).requires_grad
    src = ember.ones(2, requires_grad=True)
    copy = x.new_tensor(src)
    assert not copy.requires_grad and copy.is_leaf
    copy.add_(1)
    assert src.detach().tolist() == [1.0, 1.0]        # a copy, not a view


def test_word_language_model_init_hidden():
    weight = ember.nn.Linear(3, 4).weight
    h = weight.new_zeros(2, 5, 4)
    assert h.shape == (2, 5, 4) and h.dtype == weight.dtype and not h.requires_grad


# ---- size= keyword ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_factories_take_size_keyword(name):
    for size in [(2, 3), [4], ()]:
        e = getattr(ember, name)(size=size)
        t = getattr(torch, name)(size=size)
        assert tuple(e.shape) == tuple(t.shape) and str(e.dtype)[6:] == str(t.dtype)[6:]
    assert tuple(ember.full(size=(2,), fill_value=3).tolist()) == (3, 3)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_size_keyword_errors_as_torch(name):
    for args, kwargs in [((2,), {"size": (2, 3)}), ((), {"size": 3})]:
        with pytest.raises(TypeError) as te:
            getattr(torch, name)(*args, **kwargs)
        with pytest.raises(TypeError) as ee:
            getattr(ember, name)(*args, **kwargs)
        if name in ("rand", "randn"):   # (torch lists its overloads there; Ember names the clash)
            assert str(ee.value).startswith(name + "(") and "size" in str(ee.value)
        else:
            assert str(ee.value) == str(te.value)


# ---- spmm ---------------------------------------------------------------------------------

def test_spmm_is_a_dense_product():
    a = np.random.default_rng(0).standard_normal((3, 4))
    b = np.random.default_rng(1).standard_normal((4, 2))
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b)
    e, t = ember.spmm(ea, eb), torch.spmm(ta, tb)
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-12)
    e.sum().backward(), t.sum().backward()
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        ember.spmm(ember.ones(2), ember.ones(2, 2))


# ---- legacy tensor types ----------------------------------------------------------------

LEGACY = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
          "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_constructors(name):
    E, T = getattr(ember, name), getattr(torch, name)
    for args in [(), (2, 3), ([1, 0],), ([[1.7, 0.0]],)]:
        e, t = E(*args), T(*args)
        assert str(e.dtype)[6:] == str(t.dtype)[6:] and tuple(e.shape) == tuple(t.shape)
        if args and isinstance(args[0], list):
            assert e.tolist() == t.tolist()
    assert E(ember.Size([2])).shape == (2,)
    x = ember.zeros(2, dtype=E.dtype)
    assert E(x) is x
    assert x.type() == "ember." + name
    assert x.type(ember.LongTensor).dtype is ember.int64


@cpu_only
@pytest.mark.parametrize("name", LEGACY)
def test_legacy_isinstance(name):
    E, T = getattr(ember, name), getattr(torch, name)
    for dt in ["float32", "float64", "int64", "uint8", "bool"]:
        e, t = ember.zeros(1, dtype=getattr(ember, dt)), torch.zeros(1, dtype=getattr(torch, dt))
        assert isinstance(e, E) == isinstance(t, T)
    assert not isinstance([1.0], E)
    assert issubclass(E, ember.Tensor) == issubclass(T, torch.Tensor)


def test_legacy_constructor_errors():
    with pytest.raises(TypeError, match="expected float tensor"):
        ember.FloatTensor(ember.ones(2, dtype=ember.int64))
    with pytest.raises(TypeError):
        torch.FloatTensor(torch.ones(2, dtype=torch.int64))


# ---- range as an index -------------------------------------------------------------------

@pytest.mark.parametrize("index", [
    lambda: range(1, 3), lambda: range(0), lambda: (range(2), range(1, 3)),
    lambda: (slice(None), range(2)), lambda: (range(3), 0), lambda: range(2, -1, -1)])
def test_range_index(index):
    e, t = ember.arange(12).reshape(3, 4), torch.arange(12).reshape(3, 4)
    same(e[index()], t[index()])
    e[index()] = 0
    t[index()] = 0
    same(e, t)


def test_range_index_gradient():
    x = ember.ones(4, requires_grad=True)
    x[range(1, 3)].sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]


# ---- device flags, torch's flag modules, accelerator -----------------------------------

@cpu_only
@pytest.mark.parametrize("flag", ["is_xpu", "is_mps", "is_xla", "is_ipu", "is_mtia", "is_maia",
                                  "is_vulkan", "is_mkldnn", "is_nested", "is_sparse_csr",
                                  "is_cuda", "is_meta", "is_cpu", "is_sparse", "is_quantized"])
def test_device_flags(flag):
    assert getattr(ember.ones(1), flag) == getattr(torch.ones(1), flag)


def test_flag_modules_import_and_match_torch():
    cudnn = importlib.import_module("ember.backends.cudnn")
    assert cudnn is ember.backends.cudnn
    for name in ["enabled", "benchmark", "deterministic", "allow_tf32"]:
        assert getattr(cudnn, name) == getattr(torch.backends.cudnn, name)
    assert cudnn.is_available() == torch.backends.cudnn.is_available()
    assert cudnn.version() == torch.backends.cudnn.version()
    old = cudnn.benchmark
    cudnn.benchmark = True                        # settable, as in torch programs
    assert ember.backends.cudnn.benchmark is True
    cudnn.benchmark = old
    mps = importlib.import_module("ember.backends.mps")
    assert mps.is_available() == torch.backends.mps.is_available()
    assert mps.is_built() == torch.backends.mps.is_built()
    cuda = importlib.import_module("ember.backends.cuda")
    assert cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32
    parallel = importlib.import_module("ember.nn.parallel")
    assert parallel is ember.nn.parallel and hasattr(parallel, "DistributedDataParallel")


def test_accelerator_as_cpu_only_torch():
    assert ember.accelerator.is_available() == torch.accelerator.is_available()
    assert ember.accelerator.current_accelerator() == torch.accelerator.current_accelerator()
    assert ember.accelerator.device_count() == torch.accelerator.device_count()
    for name in ["current_device_index", "synchronize"]:
        with pytest.raises(RuntimeError) as te:
            getattr(torch.accelerator, name)()
        with pytest.raises(RuntimeError) as ee:
            getattr(ember.accelerator, name)()
        assert str(ee.value) == str(te.value)
    acc = ember.accelerator.current_accelerator() if ember.accelerator.is_available() else "cpu"
    assert ember.ones(1, device=acc).device.type == "cpu"


# ---- compile, deterministic algorithms -------------------------------------------------

def test_compile_returns_the_callable():
    model = ember.nn.Linear(2, 3)
    assert ember.compile(model) is model

    def f(x):
        return x * 2
    assert ember.compile(f, mode="max-autotune") is f
    assert ember.compile(backend="eager")(f) is f
    assert ember.compile(fullgraph=True)(f)(ember.ones(1)).item() == 2.0


@pytest.mark.guard_skip      # (argument errors: no tensor is made)
@pytest.mark.parametrize("kwargs", [{"mode": "default", "options": {}}, {"mode": "fast"},
                                    {"backend": "nope"}])
def test_compile_errors_as_torch(kwargs):
    with pytest.raises(Exception) as te:
        torch.compile(lambda x: x, **kwargs)
    with pytest.raises(RuntimeError) as ee:
        ember.compile(lambda x: x, **kwargs)
    assert str(ee.value) == str(te.value)
    with pytest.raises(AssertionError, match="A callable function is expected"):
        ember.compile(3)


def test_deterministic_flag():
    assert ember.are_deterministic_algorithms_enabled() == torch.are_deterministic_algorithms_enabled()
    try:
        for mode, warn in [(True, False), (True, True), (False, False)]:
            ember.use_deterministic_algorithms(mode, warn_only=warn)
            torch.use_deterministic_algorithms(mode, warn_only=warn)
            assert ember.are_deterministic_algorithms_enabled() == mode
            assert (ember.is_deterministic_algorithms_warn_only_enabled()
                    == torch.is_deterministic_algorithms_warn_only_enabled())
            assert ember.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
        with pytest.raises(TypeError) as te:
            torch.use_deterministic_algorithms("x")
        with pytest.raises(TypeError) as ee:
            ember.use_deterministic_algorithms("x")
        assert str(ee.value) == str(te.value)
    finally:
        ember.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


# ---- retain_grad after the tensor's hooks (torch >= 2.0) -------------------------------

def _hooks_program(lib, order):
    x = lib.ones(3, requires_grad=True)
    y = x * 2
    steps = {"retain": lambda: y.retain_grad(),
             "times10": lambda: y.register_hook(lambda g: g * 10),
             "node": lambda: y.grad_fn.register_prehook(lambda gs: (gs[0] * 100,)),
             "plus1": lambda: y.register_hook(lambda g: g + 1)}
    for s in order:
        steps[s]()
    (y * 3).sum().backward()
    return y.grad.tolist(), x.grad.tolist()


@pytest.mark.parametrize("order", [
    ["retain", "times10", "node", "plus1"], ["times10", "retain", "plus1", "node"],
    ["node", "plus1", "times10", "retain"], ["plus1", "retain", "times10"]])
def test_retain_grad_sees_hooked_gradient(order):
    assert _hooks_program(ember, order) == _hooks_program(torch, order)


def test_retain_grad_on_leaf_with_hook():
    for lib in (ember, torch):
        x = lib.ones(2, requires_grad=True)
        x.retain_grad()
        x.register_hook(lambda g: g * 10)
        (x * 3).sum().backward()
        assert x.grad.tolist() == [30.0, 30.0]


def test_data_parallel_without_accelerators_runs_the_module():
    torch.manual_seed(0)
    tm = torch.nn.DataParallel(torch.nn.Linear(2, 3))
    em = ember.nn.DataParallel(ember.nn.Linear(2, 3))
    assert list(em.state_dict()) == list(tm.state_dict()) == ["module.weight", "module.bias"]
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(em(ember.tensor(x)).detach().numpy(),
                               tm(torch.tensor(x)).detach().numpy(), rtol=1e-6)
    assert em.device_ids == tm.device_ids == [] and em.module.__class__ is ember.nn.Linear
    assert ember.nn.parallel.DataParallel is ember.nn.DataParallel


def test_legacy_constructors_ignore_the_default_device():
    """torch.Tensor(...) and torch.FloatTensor(...) make CPU tensors whatever
    set_default_device says (torch shown with 'meta', Ember with the guard device)."""
    import guard_backend
    guard_backend.register()
    for lib, other in ((torch, "meta"), (ember, "guard")):
        lib.set_default_device(other)
        try:
            made = [lib.Tensor([1.0]), lib.Tensor(2, 3), lib.FloatTensor([1.0]),
                    lib.LongTensor(2), lib.autograd.Variable()]
            assert [t.device.type for t in made] == ["cpu"] * 5
            assert lib.zeros(1).device.type == other
        finally:
            lib.set_default_device(None)
    ember.set_default_device(None if os.environ.get("EMBER_TEST_DEVICE", "cpu") == "cpu"
                             else os.environ["EMBER_TEST_DEVICE"])


def test_type_as_takes_the_other_tensors_device_and_dtype():
    import guard_backend
    guard_backend.register()
    for lib, other in ((torch, "meta"), (ember, "guard")):
        x = lib.ones(2, 2, device="cpu")
        y = x.type_as(lib.zeros(1, dtype=lib.int64, device=other))
        assert y.device.type == other and y.dtype == lib.int64
        assert x.type_as(lib.zeros(1, dtype=lib.float64, device="cpu")).device.type == "cpu"


def test_functional_data_parallel_raises_as_cpu_only_torch():
    with pytest.raises(RuntimeError) as te:
        torch.nn.parallel.data_parallel(torch.nn.Linear(2, 2), torch.ones(1, 2), None)
    with pytest.raises(RuntimeError) as ee:
        ember.nn.parallel.data_parallel(ember.nn.Linear(2, 2), ember.ones(1, 2), None)
    assert str(ee.value) == str(te.value)


def test_variable_is_a_detached_tensor_as_in_torch():
    from ember.autograd import Variable as EV
    from torch.autograd import Variable as TV
    for lib, V in ((torch, TV), (ember, EV)):
        t = lib.ones(2)
        v = V(t)
        assert type(v) is lib.Tensor and v is not t and v.data_ptr() == t.data_ptr()
        assert isinstance(t, V) and not isinstance(3, V) and not v.requires_grad
        w = V(t, requires_grad=True)
        assert w.requires_grad and w.is_leaf and not t.requires_grad
        y = V(lib.ones(2, requires_grad=True) * 2)          # cut from its graph
        assert y.is_leaf and y.grad_fn is None and not y.requires_grad
        assert V().tolist() == [] and V().dtype == lib.float32
        with pytest.warns(UserWarning, match="volatile was removed"):
            assert not V(t, volatile=True).requires_grad
    for bad, err in [((3,), TypeError), ((ember.ones(2, dtype=ember.int64), True), RuntimeError)]:
        tbad = tuple(torch.ones(2, dtype=torch.int64) if isinstance(b, ember.Tensor) else b
                     for b in bad)
        with pytest.raises(err) as te:
            TV(*tbad)
        with pytest.raises(err) as ee:
            EV(*bad)
        assert str(ee.value) == str(te.value)
    assert "Variable" in ember.autograd.__all__


@pytest.mark.parametrize("name", ["FloatTensor", "LongTensor", "ByteTensor"])
def test_cuda_legacy_types_as_cpu_only_torch(name):
    with pytest.raises(TypeError) as te:
        getattr(torch.cuda, name)(2)
    with pytest.raises(TypeError) as ee:
        getattr(ember.cuda, name)(2)
    assert str(ee.value) == str(te.value).replace("torch.cuda", "ember.cuda")
    assert not isinstance(ember.ones(1), getattr(ember.cuda, name))
    # the idiom of older programs
    T = ember.cuda.FloatTensor if ember.cuda.is_available() else ember.FloatTensor
    assert T(2, 3).shape == (2, 3)


@cpu_only
@pytest.mark.parametrize("shape,dtype", [((0, 4), "int64"), ((0,), "int64"), ((0, 4), "float32"),
                                         ((0,), "int32"), ((0,), "bool"), ((2, 0), "float64")])
def test_repr_of_empty_tensors_names_their_dtype(shape, dtype):
    e = repr(ember.zeros(shape, dtype=getattr(ember, dtype)))
    t = repr(torch.zeros(shape, dtype=getattr(torch, dtype)))
    assert e == t.replace("torch.", "ember.")
